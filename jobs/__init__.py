"""Batch and speed-layer jobs: ingestion, sample data, Spark features, embeddings, stream worker.

Each subpackage is one job with its own ``__main__`` entry point
(``python -m jobs.<name>``); jobs share nothing but ``lambdarec_contracts``.
"""
