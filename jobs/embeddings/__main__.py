"""Entry point: ``python -m jobs.embeddings``."""

from jobs.embeddings.run import main

if __name__ == "__main__":
    raise SystemExit(main())
