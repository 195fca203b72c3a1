"""Synthetic MovieLens-shaped sample data (``python -m jobs.sample_data``).

Writes the ml-latest CSV layout (movies.csv, ratings.csv, tags.csv, links.csv) plus
users.csv and item_descriptions.csv, which ``jobs.ingest`` reads as the lambdarec sample
format. Seeded and deterministic: the same spec gives byte-identical files.
"""
