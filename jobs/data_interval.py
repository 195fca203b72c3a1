"""Prints the data interval (``ds``) a pipeline run over a raw directory should use.

The day of the last interaction in the raw data, in UTC: features are computed as of the
end of that day and the evaluation split ends there. Reads only the timestamp column with
DuckDB, so it takes seconds even for ml-25m.

    python -m jobs.data_interval --raw-dir DIR     ->  2026-09-30
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

# (file, DuckDB read_csv options, timestamp column) per MovieLens layout, most specific first.
_LAYOUTS = (
    ("ratings.csv", "header=true, delim=','", "timestamp"),
    (
        "ratings.dat",
        "header=false, delim='::', columns={'u':'VARCHAR','i':'VARCHAR','r':'VARCHAR','ts':'VARCHAR'}",
        "ts",
    ),
    (
        "u.data",
        "header=false, delim='\t', columns={'u':'VARCHAR','i':'VARCHAR','r':'VARCHAR','ts':'VARCHAR'}",
        "ts",
    ),
)


def last_event_date(raw_dir: Path) -> str:
    """ISO date of the latest parsable interaction timestamp (unix seconds) in ``raw_dir``."""
    import duckdb

    for name, options, column in _LAYOUTS:
        path = raw_dir / name
        if path.exists():
            sql = (
                f"select max(try_cast({column} as bigint)) from read_csv('{path}', {options}, "
                "ignore_errors=true, all_varchar=true)"
            )
            with duckdb.connect() as con:
                (ts,) = con.execute(sql).fetchone()
            if ts is None:
                raise ValueError(f"{path}: no parsable timestamp")
            return datetime.fromtimestamp(int(ts), tz=UTC).date().isoformat()
    raise ValueError(f"{raw_dir}: no ratings file (ratings.csv, ratings.dat or u.data)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        print(last_event_date(args.raw_dir))
    except (ValueError, OSError, ImportError) as e:  # noqa: B014
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # duckdb.Error: unreadable file
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
