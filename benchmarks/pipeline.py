"""Wall time of a full pipeline run (all three DAGs through Airflow) on 1M interactions, and the peak
RSS of every kind of process the run started (Airflow, each job's Python, Spark JVMs, training),
sampled from /proc over the run's process tree."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from .common import REPO_ROOT, free_port_env, table, timed_tree


def run() -> str:
    """One full demo per preset of ``LAMBDAREC_BENCH_PIPELINE_PRESETS`` (default ``1m``; e.g.
    ``1m,10m`` for issue 13's figures in one run), one after the other."""
    presets = os.environ.get(
        "LAMBDAREC_BENCH_PIPELINE_PRESETS", os.environ.get("LAMBDAREC_BENCH_PIPELINE_PRESET", "1m")
    )
    return "".join(run_preset(p.strip()) for p in presets.split(",") if p.strip())


def task_times(stdout: str) -> list[list[str]]:
    """[dag, task, seconds] from the pipeline's "ok: <dag> in N s — <dag>: K tasks succeeded
    (task 1.2 s, ...)" lines (scripts/check_dag_run.py reads them from Airflow's database)."""
    rows = []
    for line in stdout.splitlines():
        m = re.match(r"ok: (\S+) .*tasks succeeded \((.*)\)", line)
        if m:
            rows += [
                [m.group(1), t, f"{float(s):.1f} s"]
                for t, s in re.findall(r"(\w+) (\d+(?:\.\d+)?) s", m.group(2))
            ]
    return rows


def served_table(manifest_path: Path, preset: str) -> str:
    """The published bundle's own judgement (training's served replay) and retrieval throughput."""
    if not manifest_path.exists():
        return f"\n(no published bundle at {manifest_path})\n"
    manifest = json.loads(manifest_path.read_text())
    m, base = manifest.get("metrics", {}), manifest.get("baselines", {})
    nan = float("nan")
    rows = [["served blend", f"{m.get('served_recall@10', nan):.4f}", f"{m.get('served_ndcg@10', nan):.4f}"]]
    rows += [
        [name, f"{b.get('recall@10', nan):.4f}", f"{b.get('ndcg@10', nan):.4f}"] for name, b in base.items()
    ]
    rows.append(["served / best of EASE, item-kNN", f"{m.get('served_lift@10', nan):.3f}x", ""])
    rows.append(["two-tower training", f"{m.get('retrieval_examples_per_s', nan):,.0f} examples/s",
                 f"{m.get('retrieval_s_per_epoch', nan):.1f} s/epoch"])  # fmt: skip
    return table(
        f"What the run published ({preset}; bundle {manifest.get('bundle_version', '?')}, per-user temporal hold-out)",
        ["model", "recall@10", "ndcg@10"],
        rows,
    )


def run_preset(preset: str) -> str:
    var = REPO_ROOT / "var" / "bench" / f"pipeline-{preset}"
    shutil.rmtree(var, ignore_errors=True)
    env = {
        "LAMBDAREC_VAR": str(var),
        "LAMBDAREC_SAMPLE_PRESET": preset,
        "REDIS_URL": os.environ.get("LAMBDAREC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
        **free_port_env(),
    }
    env.pop("LAMBDAREC_DATA_DIR", None)
    os.environ.pop("LAMBDAREC_DATA_DIR", None)
    r = timed_tree(["bash", str(REPO_ROOT / "scripts" / "demo.sh")], env=env, interval_s=0.5)
    steps = [ln.strip() for ln in r.stdout.splitlines() if ln.startswith("ok: ")]
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "services.sh"), "stop"], env={**os.environ, **env})
    rows = []
    for step in steps:  # "ok: <dag> in <N> s — ..." or "ok: <dag> (log: ...)"
        m = re.match(r"ok: (\S+)(?: in (\d+) s)?", step)
        if m:
            rows.append([m.group(1), f"{m.group(2)} s" if m.group(2) else "(not timed)"])
    rows.append(["whole demo (sample data, 3 DAGs, services, requests)", f"{r.seconds:.0f} s"])
    # One process each, never summed: the bound is per process (a Spark JVM, a task's Python).
    peaks = sorted(r.peak_by_label.items(), key=lambda kv: -kv[1])
    return (
        table(f"Full pipeline through Airflow on the {preset} sample", ["step", "wall"], rows)
        + served_table(var / "data" / "models" / "current" / "manifest.json", preset)
        + table(
            f"Tasks of that run ({preset}; Airflow's start/end times)",
            ["dag", "task", "wall"],
            task_times(r.stdout),
        )
        + table(
            f"Peak RSS per process kind during that run ({preset}; largest single process; whole tree at most "
            f"{r.peak_tree_rss_mb:,.0f} MB at once; services started in the background are not in the tree)",
            ["process", "peak MB"],
            [[label, f"{mb:,.0f}"] for label, mb in peaks if mb >= 50],
        )
    )
