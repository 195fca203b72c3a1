"""Text embeddings of items (OpenAI API or the local MiniLM model), incremental by content hash.

    python -m jobs.embeddings --ds YYYY-MM-DD [--provider openai|local]

Runs in the ``embed`` environment. See :mod:`jobs.embeddings.run` for the job itself.
"""
