"""Raw MovieLens-format files -> canonical landing tables (``python -m jobs.ingest``).

Reads ml-100k, ml-1m (and ml-10m), ml-latest / ml-25m and the lambdarec sample format
(ml-latest CSVs plus ``users.csv`` and ``item_descriptions.csv``), detected from the files
present, and writes ``landing/`` as described in ``lambdarec_contracts.tables``.

Range checks (ratings out of range, duplicate ids, null keys) are deliberately left to
dbt's tests; ingestion only rejects rows it cannot parse, and counts every one of them.
"""
