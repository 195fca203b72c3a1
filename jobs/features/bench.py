"""Benchmark: time ``python -m jobs.features`` on synthetic marts of a given size; prints the figures.

    python -m jobs.features.bench --interactions 100000 [--users 2000 --items 3000 --days 90]
                                  [--workdir DIR] [-- <extra jobs.features flags>]

The marts are synthetic (Zipf-like item popularity, random ratings), written with the
contract's Parquet types straight into ``<workdir>/marts``, so the benchmark does not need
the ingest and dbt steps. The job runs in a subprocess, as Airflow runs it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lambdarec_contracts.events import is_positive
from lambdarec_contracts.tables import GENRES


def write_synthetic_marts(marts: Path, n_interactions: int, n_users: int, n_items: int, end: dt.date, days: int,
                          seed: int = 0) -> None:  # fmt: skip
    """dim_items, dim_users and fct_interactions with the contract's columns and types."""
    rng = np.random.default_rng(seed)
    marts.mkdir(parents=True, exist_ok=True)
    utc_ts = pa.timestamp("us", "UTC")
    item_ids = [f"m{i}" for i in range(n_items)]
    genres = [sorted(set(rng.choice(GENRES[:-1], size=rng.integers(1, 4)).tolist())) for _ in range(n_items)]
    years = [None if rng.random() < 0.02 else int(rng.integers(1930, 2024)) for _ in range(n_items)]
    pq.write_table(
        pa.table(
            {
                "item_id": item_ids,
                "title": [f"Title {i}" for i in range(n_items)],
                "genres": pa.array(genres, pa.list_(pa.string())),
                "year": pa.array(years, pa.int32()),
                "tags": [""] * n_items,
                "description": [""] * n_items,
                "first_seen_ts": pa.array([None] * n_items, utc_ts),
            }
        ),
        marts / "dim_items.parquet",
    )
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    items = rng.choice(n_items, size=n_interactions, p=popularity / popularity.sum())
    users = rng.integers(0, n_users, size=n_interactions)
    end_s = int(dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC).timestamp())
    secs = rng.integers(end_s - days * 86400, end_s, size=n_interactions)
    kind = rng.choice(["rating", "view", "click", "like"], size=n_interactions, p=[0.7, 0.15, 0.1, 0.05])
    ratings = np.where(kind == "rating", rng.integers(1, 11, size=n_interactions) / 2.0, np.nan)
    positive = [is_positive(k, r) for k, r in zip(kind.tolist(), ratings.tolist(), strict=True)]  # as dbt
    event_ts = pa.array(secs * 1_000_000, pa.int64()).cast(utc_ts)
    pq.write_table(
        pa.table(
            {
                "interaction_id": [f"x{n}" for n in range(n_interactions)],
                "user_id": [f"u{u}" for u in users],
                "item_id": [item_ids[i] for i in items],
                "rating": pa.array(ratings, pa.float64(), from_pandas=True),
                "event_type": kind.tolist(),
                "event_ts": event_ts,
                "event_date": event_ts.cast(pa.date32()),
                "is_positive": positive,
            }
        ),
        marts / "fct_interactions.parquet",
    )
    pq.write_table(pa.table({"user_id": [f"u{u}" for u in range(n_users)]}), marts / "dim_users.parquet")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.features.bench", description=__doc__.split("\n")[0])
    p.add_argument("--interactions", type=int, default=100_000)
    p.add_argument("--users", type=int, default=2_000)
    p.add_argument("--items", type=int, default=3_000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--ds", default="2024-03-31")
    p.add_argument("--workdir", type=Path, default=None, help="kept afterwards; a temporary dir otherwise")
    args, job_flags = p.parse_known_args(argv)
    job_flags = [f for f in job_flags if f != "--"]
    with tempfile.TemporaryDirectory(prefix="lambdarec-features-bench-") as tmp:
        data = args.workdir or Path(tmp)
        started = time.monotonic()
        write_synthetic_marts(
            data / "marts",
            args.interactions,
            args.users,
            args.items,
            dt.date.fromisoformat(args.ds),
            args.days,
        )
        gen_s = time.monotonic() - started
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "jobs.features", "--ds", args.ds, *job_flags],
            env={**os.environ, "LAMBDAREC_DATA_DIR": str(data)},
            capture_output=True,
            text=True,
        )
        job_s = time.monotonic() - started
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            return proc.returncode
        written = json.loads(proc.stdout)
    print(f"synthetic marts: {args.interactions} interactions, {args.users} users, {args.items} items, "
          f"{args.days} days (generated in {gen_s:.1f}s)")  # fmt: skip
    print(f"jobs.features wall clock (incl. JVM start): {job_s:.1f}s; load average {os.getloadavg()[0]:.1f}")
    for w in written:
        print(f"  {w['table']:<14} ds={w['ds']} rows={w['rows']:>6} compute+write {w['seconds']:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
