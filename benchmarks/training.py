"""Training benchmark: seconds per epoch (retrieval, ranking) and export time on 1M interactions."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .common import REPO_ROOT, table, timed, venv_python

DS = "2024-06-30"


def run() -> str:
    n = int(os.environ.get("LAMBDAREC_BENCH_TRAIN_INTERACTIONS", "1000000"))
    data = REPO_ROOT / "var" / "bench" / "training"
    shutil.rmtree(data, ignore_errors=True)
    env = {"LAMBDAREC_DATA_DIR": str(data)}
    py = venv_python("training")
    # Inputs as production makes them: synthetic marts -> Spark snapshots -> Feast training set.
    gen = timed(
        [venv_python("pipeline"), "-m", "testing_support.training_inputs", "--data-dir", str(data),
         "--ds", DS, "--users", "6000", "--items", "4000", "--interactions", str(n), "--days", "120"],
        env=env,
    )  # fmt: skip
    tr = timed([py, "-m", "training.train", "--ds", DS, "--epochs", "5", "--ranker-epochs", "2"], env=env)
    bundle = Path(tr.stdout.strip().splitlines()[-1])
    report = json.loads((bundle / "report.json").read_text())
    t = report.get("timings", {})
    manifest = json.loads((bundle / "manifest.json").read_text())
    m = manifest.get("metrics", {})
    pop = manifest.get("baselines", {}).get("most_popular", {})
    served = report.get("retrieval", {}).get("served", {})
    best = max(
        (report["retrieval"].get(b, {}).get("recall@10", 0.0) for b in ("ease", "item_knn")), default=0.0
    )
    rows = [
        [
            "inputs: synthetic marts, Spark snapshots, Feast training set",
            f"{n:,} interactions, 6,000 users, 4,000 items",
            f"{gen.seconds:.0f} s",
        ],
        ["retrieval (two-tower)", "s / epoch", f"{m.get('retrieval_s_per_epoch', float('nan')):.1f}"],
        ["retrieval (two-tower)", "examples / s", f"{m.get('retrieval_examples_per_s', float('nan')):,.0f}"],
        # Every step training timed, in its own order (the steps are training's to name).
        *[[f"step {k.removesuffix('_s')}", "s", f"{v:.1f}"] for k, v in t.items()],
        ["whole run", f"peak RSS {tr.peak_rss_mb:.0f} MB", f"{tr.seconds:.0f} s"],
        [
            "served recall@10",
            "served blend (5 retrieval epochs, as the DAG) on this synthetic set",
            f"{served.get('recall@10', float('nan')):.4f} vs best of EASE/item-kNN {best:.4f}, "
            f"most-popular {pop.get('recall@10', float('nan')):.4f}",
        ],
    ]
    shutil.rmtree(data, ignore_errors=True)
    return table(f"Training on {n:,} interactions (2 CPU cores)", ["step", "what", "figure"], rows)
