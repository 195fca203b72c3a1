"""Point-in-time training set benchmark: ``python -m jobs.training_set`` on a generated sample.

    python -m benchmarks.run --sections training_set     # LAMBDAREC_BENCH_TS_PRESETS=1m (default), 10m or 1m,10m

Inputs are made by the real steps, as ``build_features_daily`` makes them (kept under
``var/bench/training-set-<preset>`` and reused): sample data -> ingest -> dbt -> Spark features
for ds and the 8 weekly snapshots before it; the text embeddings are random 384-d vectors (the
embedding model is not what is measured). Then the training set is built for the DAG's window
(55 days before ds) and for the whole sample (every interaction), each timed with the peak RSS
summed over the job's process tree (Spark JVM included). ``LAMBDAREC_BENCH_TS_FEAST=1`` also
times Feast's engine on the DAG window. Printed, never asserted.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

from .common import REPO_ROOT, table, timed, timed_tree, venv_python

SNAPSHOT_WEEKS = 8
WINDOW_DAYS = 7 * SNAPSHOT_WEEKS - 1


def _embeddings(data: Path) -> None:
    """One random unit vector per item of dim_items, stamped before every interaction."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    items = pq.read_table(data / "marts" / "dim_items.parquet", columns=["item_id"]).column("item_id")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(items), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out = data / "embeddings" / "item_text_embeddings.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    n = len(items)
    pq.write_table(
        pa.table(
            {
                "item_id": items,
                "event_timestamp": pa.array(
                    [dt.datetime(1990, 1, 1, tzinfo=dt.UTC)] * n, pa.timestamp("us", "UTC")
                ),
                "embedding": pa.FixedSizeListArray.from_arrays(vectors.ravel(), 384).cast(
                    pa.list_(pa.float32())
                ),
                "embedding_model": ["random-384"] * n,
                "content_hash": [f"h{i}" for i in range(n)],
            }
        ),
        out,
    )


def prepare(preset: str) -> tuple[Path, str, list[list[str]]]:
    """The inputs of the training set (built once per preset); (data dir, ds, rows of set-up timings)."""
    py = venv_python("pipeline")
    root = REPO_ROOT / "var" / "bench" / f"training-set-{preset}"
    raw, data = root / "raw", root / "data"
    env = {"LAMBDAREC_DATA_DIR": str(data), "PYSPARK_PYTHON": py}
    rows: list[list[str]] = []
    if not (raw / "ratings.csv").exists():
        r = timed([py, "-m", "jobs.sample_data", "--out", str(raw), "--preset", preset])
        rows.append(["generate sample", f"{r.seconds:.1f}", f"{r.peak_rss_mb:.0f}"])
    ds = subprocess.run(
        [py, "-m", "jobs.data_interval", "--raw-dir", str(raw)], capture_output=True, text=True, check=True
    ).stdout.strip()
    marker = data / ".bench-ready"
    if not marker.exists():
        backfill = (dt.date.fromisoformat(ds) - dt.timedelta(days=7 * SNAPSHOT_WEEKS)).isoformat()
        dbt = str(Path(py).parent / "dbt")
        steps = [
            ("ingest", [py, "-m", "jobs.ingest", "--raw-dir", str(raw)]),
            ("dbt build", [dbt, "build", "--project-dir", str(REPO_ROOT / "dbt"), "--profiles-dir",
                           str(REPO_ROOT / "dbt"), "--quiet", "--vars", f"{{ds: '{ds}'}}"]),
            (f"spark features ({SNAPSHOT_WEEKS + 1} weekly snapshots)",
             [py, "-m", "jobs.features", "--ds", ds, "--backfill-from", backfill, "--every", "7"]),
            ("feast apply", [py, "-m", "feature_repo.feast_cli", "apply"]),
        ]  # fmt: skip
        for name, cmd in steps:
            r = timed(cmd, env=env)
            rows.append([name, f"{r.seconds:.1f}", f"{r.peak_rss_mb:.0f}"])
        _embeddings(data)
        marker.touch()
    return data, ds, rows


def _interactions(data: Path, start: str, ds: str) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    dates = pq.read_table(data / "marts" / "fct_interactions.parquet", columns=["event_date"]).column(
        "event_date"
    )
    lo, hi = dt.date.fromisoformat(start), dt.date.fromisoformat(ds)
    return int(pc.sum(pc.and_(pc.greater_equal(dates, lo), pc.less_equal(dates, hi))).as_py())


def _split(log: str) -> str:
    """The job's own timing line (``jobs.training_set`` logs where its time went), shortened."""
    import re

    found = re.search(r"point-in-time join .*? in ([\d.]+)s(?: \((.*)\))?", log)
    if not found:
        return "-"
    return f"{float(found.group(1)):.1f} s" + (f" ({found.group(2)})" if found.group(2) else "")


def run() -> str:
    """Each preset of ``LAMBDAREC_BENCH_TS_PRESETS`` (default ``1m``; ``1m,10m`` for both)."""
    presets = os.environ.get("LAMBDAREC_BENCH_TS_PRESETS", os.environ.get("LAMBDAREC_BENCH_TS_PRESET", "1m"))
    return "".join(run_preset(p.strip()) for p in presets.split(",") if p.strip())


def run_preset(preset: str) -> str:
    data, ds, rows = prepare(preset)
    py = venv_python("pipeline")
    env = {"LAMBDAREC_DATA_DIR": str(data), "PYSPARK_PYTHON": py}
    window_start = (dt.date.fromisoformat(ds) - dt.timedelta(days=WINDOW_DAYS)).isoformat()
    runs = [("spark", "DAG window", window_start), ("spark", "whole sample", "1970-01-01")]
    if os.environ.get("LAMBDAREC_BENCH_TS_FEAST") == "1":
        runs.append(("feast", "DAG window", window_start))
    body = []
    for engine, label, start in runs:
        load_before = os.getloadavg()[0]
        r = timed_tree(
            [py, "-m", "jobs.training_set", "--ds", ds, "--start", start, "--engine", engine], env=env
        )
        n = _interactions(data, start, ds)
        biggest = max(r.peak_by_label.items(), key=lambda kv: kv[1], default=("-", 0.0))
        body.append([engine, f"{label} ({start}..{ds})", f"{n:,}", f"{r.seconds:.1f}", f"{r.cpu_s:.1f}", f"{n / r.seconds:,.0f}",
                     _split(r.stderr), f"{r.peak_tree_rss_mb:.0f}", f"{biggest[0]}: {biggest[1]:.0f}",
                     f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"])  # fmt: skip
    setup = table(
        f"Training set inputs ({preset} sample, built once, reused)", ["step", "wall s", "peak MB"], rows
    )
    return (setup if rows else "") + table(
        f"Point-in-time training set on the {preset} sample (python -m jobs.training_set; wall includes the JVM "
        "start; peak RSS summed over the process tree from /proc)",
        [
            "engine",
            "interactions",
            "rows",
            "wall s",
            "CPU s (tree)",
            "rows/s",
            "job's own split (log)",
            "peak tree MB",
            "largest process MB",
            "load before / after",
        ],
        body,
    )
