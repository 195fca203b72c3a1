"""``python -m jobs.sample_data``: see jobs.sample_data.run."""

from jobs.sample_data.run import main

raise SystemExit(main())
