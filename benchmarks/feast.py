"""Feature store benchmark: materialization throughput / peak memory and get_online_features latency.

    python -m benchmarks.run --sections feast            # as part of `make bench`
    python -m benchmarks.feast [--rows 1000000] [--calls 200] [--engine spark|feast]   # one size (JSON)

``run()`` measures each size of ``LAMBDAREC_BENCH_FEAST_ROWS`` (default 1M and 10M), one after
the other, each in its own process: ``--rows`` user_features rows (all contract columns) written
in row groups of 131,072 rows as a Spark writer would (never the whole table in memory), its own
redis-server, the feature repo applied (SQLite registry), ``python -m jobs.materialize`` for one
interval in a subprocess (wall time; peak RSS summed over its process tree sampled from /proc,
Spark JVM and Python workers included), ``get_online_features`` timed for 1 and 500 entities.
Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
    sizes = [int(s) for s in os.environ.get("LAMBDAREC_BENCH_FEAST_ROWS", "1000000,10000000").split(",")]
    engine = os.environ.get("LAMBDAREC_BENCH_FEAST_ENGINE", "spark")
    rows, raw = [], []
    for n in sizes:
        r = timed([venv_python("pipeline"), "-m", "benchmarks.feast", "--rows", str(n), "--engine", engine])
        line = next((ln for ln in reversed(r.stdout.splitlines()) if ln.strip().startswith("{")), None)
        if line is None:
            raw.append(r.stdout[-3000:])
            continue
        f = json.loads(line)
        rows.append(
            [f"{n:,}", f["materialize_engine"], f["materialize_seconds"], f"{f['materialize_rows_per_s']:,}",
             f["materialize_write_seconds"],
             f["materialize_peak_tree_rss_mb"], json.dumps(f["online_1_entity"]),
             json.dumps(f["online_500_entities"])]
        )  # fmt: skip
    return table(
        "Feast: materialization of user_features rows (python -m jobs.materialize; peak RSS summed over "
        "the job's process tree from /proc, Spark JVM and Python workers included) and online reads",
        [
            "rows",
            "engine",
            "wall s",
            "rows/s",
            "write s",
            "peak tree MB",
            "online 1 entity ms",
            "online 500 entities ms",
        ],
        rows,
    ) + "".join(f"\n{x}" for x in raw)


ROW_GROUP = 131_072


def user_features_table(rows: int, ts: datetime, seed: int = 0, first_id: int = 0) -> Any:
    """``rows`` user_features rows with ids u<first_id>...; lists built column-wise (fast at 10M)."""
    import numpy as np
    import pyarrow as pa

    from lambdarec_contracts.tables import GENRES

    rng = np.random.default_rng(seed)
    n_genres = len(GENRES)
    affinity = rng.random((rows, n_genres), dtype=np.float32)
    catalogue = pa.array([f"i{j}" for j in range(5000)])

    def id_lists(per_row: int) -> Any:
        offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * per_row)
        return pa.ListArray.from_arrays(offsets, catalogue.take(rng.integers(0, 5000, rows * per_row)))

    return pa.table(
        {
            "user_id": pa.array(np.char.add("u", np.arange(first_id, first_id + rows).astype(str)).tolist()),
            "event_timestamp": pa.array(np.full(rows, int(ts.timestamp()) * 1_000_000), pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "n_interactions_7d": rng.integers(0, 50, rows),
            "n_interactions_30d": rng.integers(0, 200, rows),
            "n_interactions_total": rng.integers(0, 2000, rows),
            "rating_mean": rng.random(rows) * 5,
            "rating_std": rng.random(rows),
            "genre_affinity": pa.FixedSizeListArray.from_arrays(affinity.ravel(), n_genres).cast(
                pa.list_(pa.float32())
            ),
            "recent_items": id_lists(20),
            "recent_positive_items": id_lists(5),
            "last_active_ts": rng.integers(1_700_000_000, 1_710_000_000, rows),
        }
    )


def write_user_features(path: Path, rows: int, ts: datetime) -> None:
    """One Parquet file of ``rows`` rows, written one row group at a time."""
    import pyarrow.parquet as pq

    writer = None
    try:
        for start in range(0, rows, ROW_GROUP):
            chunk = user_features_table(min(ROW_GROUP, rows - start), ts, seed=start, first_id=start)
            writer = writer or pq.ParquetWriter(path, chunk.schema)
            writer.write_table(chunk, row_group_size=ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


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


def measure(rows: int = 1_000_000, calls: int = 200, engine: str = "spark") -> dict:
    """Materialize ``rows`` user_features rows into a fresh redis-server and time online reads."""
    import numpy as np

    from feature_repo.feast_cli import run_feast
    from feature_repo.feast_settings import FeastSettings, open_store

    from .common import timed_tree

    workdir = Path(tempfile.mkdtemp(prefix="lambdarec-feast-bench-"))
    redis_server = RedisServer(workdir=workdir, durable=False)
    redis_server.start()
    try:
        part = workdir / "data" / "features" / "user_features" / "ds=2024-01-01"
        part.mkdir(parents=True)
        write_user_features(part / "part-0.parquet", rows, datetime(2024, 1, 2, tzinfo=UTC))
        settings = FeastSettings(LAMBDAREC_DATA_DIR=str(workdir / "data"), REDIS_URL=redis_server.url)
        applied = run_feast(["apply"], settings, capture=True)
        if applied.returncode != 0:
            raise RuntimeError(applied.stderr)
        job = timed_tree(
            [venv_python("pipeline"), "-m", "jobs.materialize", "--start", "2024-01-01", "--end", "2024-01-02",
             "--views", "user_stats", "--engine", engine],
            env={"LAMBDAREC_DATA_DIR": str(workdir / "data"), "REDIS_URL": redis_server.url},
        )  # fmt: skip
        store = open_store(settings)
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

        # The job's own log line: the write alone, without interpreter, imports, JVM start-up, validation.
        written = re.search(r"user_stats: \d+ rows .*?, ([\d.]+)s \(", job.stderr)
        return {
            "materialize_engine": engine,
            "materialize_rows": rows,
            "materialize_seconds": round(job.seconds, 1),
            "materialize_write_seconds": float(written.group(1)) if written else None,
            "materialize_rows_per_s": round(rows / job.seconds),
            "materialize_peak_tree_rss_mb": round(job.peak_tree_rss_mb),
            "materialize_peak_process_rss_mb": round(job.peak_process_rss_mb),
            "materialize_peak_rss_mb_by_process": {k: round(v) for k, v in job.peak_by_label.items()},
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
    parser.add_argument("--engine", choices=["spark", "feast"], default="spark")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.rows, args.calls, args.engine)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
