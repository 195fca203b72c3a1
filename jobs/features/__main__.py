"""``python -m jobs.features --ds YYYY-MM-DD``: see jobs.features.compute."""

import sys

from jobs.features.compute import main

if __name__ == "__main__":
    sys.exit(main())
