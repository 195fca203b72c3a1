"""Entry point: ``python -m jobs.sample_data --out DIR --preset tiny|small|1m|10m|25m [--seed N]``."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from jobs.sample_data.spec import PRESETS, spec_for
from jobs.sample_data.write import generate, summary


def _date(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jobs.sample_data", description=__doc__)
    p.add_argument("--out", type=Path, required=True, help="directory to write the CSVs into")
    p.add_argument("--preset", choices=list(PRESETS), default="small")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--users", type=int, default=None, help="override the preset's number of users")
    p.add_argument("--items", type=int, default=None, help="override the preset's number of items")
    p.add_argument("--interactions", type=int, default=None, help="override the preset's number of ratings")
    p.add_argument("--start-date", type=_date, default=None, help="first day of the window, YYYY-MM-DD (UTC)")
    p.add_argument("--days", type=int, default=None, help="length of the window in days (default 182)")
    p.add_argument(
        "--corrupt",
        choices=["duplicate-ids", "null-keys", "bad-ratings"],
        default=None,
        help="write a deliberately broken file so tests can prove the pipeline stops on it",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spec = spec_for(
            args.preset,
            seed=args.seed,
            users=args.users,
            items=args.items,
            interactions=args.interactions,
            corrupt=args.corrupt,
            start=args.start_date,
            days=args.days,
        )
    except (ValueError, ValidationError) as exc:
        print(f"sample_data: invalid parameters: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    manifest = generate(spec, args.out)
    print(summary(manifest, args.out, time.monotonic() - started))
    return 0
