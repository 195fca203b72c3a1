"""``python -m jobs.ingest``: see jobs.ingest.run."""

from jobs.ingest.run import main

raise SystemExit(main())
