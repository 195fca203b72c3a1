"""Feature store benchmark: materialization throughput and get_online_features latency.

    python -m benchmarks.run --sections feast            # as part of `make bench`
    python -m benchmarks.feast [--rows 1000000] [--calls 200]   # the measurement alone (JSON)

``run()`` starts the measurement in its own process under GNU time (its peak RSS is a figure):
``--rows`` user_features rows (all contract columns) in a temporary data dir, its own
redis-server, the project's feature repo applied (SQLite registry), one interval materialized,
``get_online_features`` timed for 1 and 500 entities. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from testing_support.redis_server import RedisServer

from .common import table, timed, venv_python


def run() -> str:
    """The feast section of `make bench` (Markdown)."""
    rows = int(os.environ.get("LAMBDAREC_BENCH_FEAST_ROWS", "1000000"))
    r = timed([venv_python("pipeline"), "-m", "benchmarks.feast", "--rows", str(rows)])
    line = next((ln for ln in reversed(r.stdout.splitlines()) if ln.strip().startswith("{")), None)
    if line is None:
        return "\n## Feast\n" + r.stdout[-3000:]
    f = json.loads(line)
    body = [[k, json.dumps(v) if isinstance(v, dict) else v] for k, v in f.items()]
    return (
        table(
            f"Feast: materialization of {rows:,} user_features rows and online reads",
            ["figure", "value"],
            body,
        )
        + f"\n(whole section {r.seconds:.0f} s, peak {r.peak_rss_mb:.0f} MB)"
    )


def user_features_table(rows: int, ts: datetime, seed: int = 0) -> Any:
    import numpy as np
    import pyarrow as pa

    from lambdarec_contracts.tables import GENRES

    rng = np.random.default_rng(seed)
    n_genres = len(GENRES)
    affinity = rng.random((rows, n_genres), dtype=np.float32)
    recent = [[f"i{j}" for j in rng.integers(0, 5000, 20)] for _ in range(min(rows, 1000))]
    return pa.table(
        {
            "user_id": pa.array([f"u{i}" for i in range(rows)]),
            "event_timestamp": pa.array([ts] * rows, pa.timestamp("us", tz="UTC")),
            "n_interactions_7d": rng.integers(0, 50, rows),
            "n_interactions_30d": rng.integers(0, 200, rows),
            "n_interactions_total": rng.integers(0, 2000, rows),
            "rating_mean": rng.random(rows) * 5,
            "rating_std": rng.random(rows),
            "genre_affinity": pa.FixedSizeListArray.from_arrays(affinity.ravel(), n_genres).cast(
                pa.list_(pa.float32())
            ),
            "recent_items": pa.array([recent[i % len(recent)] for i in range(rows)], pa.list_(pa.string())),
            "recent_positive_items": pa.array(
                [recent[i % len(recent)][:5] for i in range(rows)], pa.list_(pa.string())
            ),
            "last_active_ts": rng.integers(1_700_000_000, 1_710_000_000, rows),
        }
    )


def _latency_ms(fn, calls: int) -> dict[str, float]:
    fn()  # warm-up (registry cache, connection)
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 2),
        "p99_ms": round(samples[int(0.99 * (len(samples) - 1))], 2),
    }


def measure(rows: int = 1_000_000, calls: int = 200) -> dict:
    """Materialize ``rows`` user_features rows into a fresh redis-server and time online reads."""
    import numpy as np
    import pyarrow.parquet as pq

    from feature_repo.feast_cli import run_feast
    from feature_repo.feast_settings import FeastSettings, open_store

    workdir = Path(tempfile.mkdtemp(prefix="lambdarec-feast-bench-"))
    redis_server = RedisServer(workdir=workdir, durable=False)
    redis_server.start()
    try:
        part = workdir / "data" / "features" / "user_features" / "ds=2024-01-01"
        part.mkdir(parents=True)
        pq.write_table(user_features_table(rows, datetime(2024, 1, 2, tzinfo=UTC)), part / "part-0.parquet")
        settings = FeastSettings(LAMBDAREC_DATA_DIR=str(workdir / "data"), REDIS_URL=redis_server.url)
        applied = run_feast(["apply"], settings, capture=True)
        if applied.returncode != 0:
            raise RuntimeError(applied.stderr)
        store = open_store(settings)
        t0 = time.perf_counter()
        store.materialize(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), ["user_stats"])
        seconds = time.perf_counter() - t0
        features = [f"user_stats:{f.name}" for f in store.get_feature_view("user_stats").features]
        rng = np.random.default_rng(1)

        def read(n: int):
            ids = rng.integers(0, rows, n)
            out = store.get_online_features(
                features=features, entity_rows=[{"user_id": f"u{i}"} for i in ids]
            ).to_dict()
            if out["n_interactions_7d"][0] is None:
                raise RuntimeError("benchmark read found no value: materialization did not land")
            return out

        return {
            "materialize_rows": rows,
            "materialize_seconds": round(seconds, 1),
            "materialize_rows_per_s": round(rows / seconds),
            "online_1_entity": _latency_ms(lambda: read(1), calls),
            "online_500_entities": _latency_ms(lambda: read(500), max(10, calls // 10)),
        }
    finally:
        redis_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.feast", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.rows, args.calls)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
