"""Batch layer benchmark: ingestion + dbt + Spark features on synthetic data (1M, 10M interactions)."""

from __future__ import annotations

import shutil
import subprocess

from .common import REPO_ROOT, table, timed, venv_python

PRESET_ROWS = {"1m": 1_000_000, "10m": 10_000_000, "25m": 25_000_000, "small": 100_000}


def run(sizes: list[str], keep: bool = False) -> str:
    py = venv_python("pipeline")
    dbt = str(REPO_ROOT / ".venvs" / "pipeline" / "bin" / "dbt")
    rows = []
    for size in sizes:
        root = REPO_ROOT / "var" / "bench" / size
        raw, data = root / "raw", root / "data"
        shutil.rmtree(data, ignore_errors=True)
        if not (raw / "ratings.csv").exists():
            gen = timed([py, "-m", "jobs.sample_data", "--out", str(raw), "--preset", size])
            rows.append(
                [size, "generate sample (not counted)", f"{gen.seconds:.1f}", f"{gen.peak_rss_mb:.0f}", ""]
            )
        env = {"LAMBDAREC_DATA_DIR": str(data), "PYSPARK_PYTHON": py}
        ds = subprocess.run(
            [py, "-m", "jobs.data_interval", "--raw-dir", str(raw)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        n = PRESET_ROWS.get(size, 0)
        steps = [
            ("ingest", [py, "-m", "jobs.ingest", "--raw-dir", str(raw)]),
            (
                "dbt build (+tests)",
                [
                    dbt,
                    "build",
                    "--project-dir",
                    str(REPO_ROOT / "dbt"),
                    "--profiles-dir",
                    str(REPO_ROOT / "dbt"),
                    "--quiet",
                ],
            ),
            ("spark features (1 snapshot)", [py, "-m", "jobs.features", "--ds", ds]),
        ]
        total = 0.0
        peak = 0.0
        for name, cmd in steps:
            r = timed(cmd, env=env)
            total += r.seconds
            peak = max(peak, r.peak_rss_mb)
            rows.append(
                [size, name, f"{r.seconds:.1f}", f"{r.peak_rss_mb:.0f}", f"{n / r.seconds:,.0f}" if n else ""]
            )
        rows.append(
            [size, "TOTAL ingest+dbt+spark", f"{total:.1f}", f"{peak:.0f}", f"{n / total:,.0f}" if n else ""]
        )
        if not keep:
            shutil.rmtree(data, ignore_errors=True)
    return table(
        "Batch layer: ingestion + dbt + Spark features (wall s, peak RSS of the step's process tree)",
        ["size", "step", "wall s", "peak MB", "interactions/s"],
        rows,
    )
