"""Evaluation report of a bundle: report.json, report.md (tables) and PNG plots next to them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lambdarec_contracts.bundle import REPORT_JSON_FILE, REPORT_MD_FILE

RECALL_PLOT = "recall_at_k.png"
LOSS_PLOT = "training_loss.png"
TABLE_METRICS = (
    "recall@10",
    "recall@50",
    "recall@100",
    "ndcg@10",
    "hit_rate@10",
    "coverage@10",
    "novelty@10",
)


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.4f}"


def markdown(report: dict[str, Any]) -> str:
    """The human report: retrieval models vs baselines with lift, ranker metrics, timings."""
    models: dict[str, dict[str, float]] = report["retrieval"]
    ref = models.get("most_popular", {})
    lines = [
        f"# Bundle {report['bundle_version']}",
        "",
        f"Trained on interactions before **{report['split']['cutoff']}**, evaluated on each user's positive "
        f"interactions in [{report['split']['cutoff']}, {report['split']['end']}) "
        f"({int(models['two_tower']['n_eval_users'])} users, full catalogue of {report['split']['n_catalogue']} items, "
        "items seen before the cut-off excluded).",
        "",
        "## Retrieval",
        "",
        "| model | " + " | ".join(TABLE_METRICS) + " | lift recall@10 vs popular |",
        "| --- | " + " | ".join("---:" for _ in TABLE_METRICS) + " | ---: |",
    ]
    for name, m in models.items():
        base = ref.get("recall@10") or 0.0
        lift = f"{m['recall@10'] / base:.2f}x" if base > 0 else "n/a"
        lines.append(f"| {name} | " + " | ".join(_fmt(m.get(k)) for k in TABLE_METRICS) + f" | {lift} |")
    lines += [
        "",
        f"![recall@k]({RECALL_PLOT})",
        "",
        "## Ranker (held-out rows)",
        "",
        "| metric | value |",
        "| --- | ---: |",
    ]
    for k, v in report["ranker"].items():
        lines.append(f"| {k} | {_fmt(v)} |")
    lines += [
        "",
        f"![training loss]({LOSS_PLOT})",
        "",
        "## Timings (s)",
        "",
        "| step | seconds |",
        "| --- | ---: |",
    ]
    for k, v in report["timings"].items():
        lines.append(f"| {k} | {v:.2f} |")
    lines += ["", f"Value model weights: `{json.dumps(report['value_model_weights'])}`"]
    return "\n".join(lines) + "\n"


def plots(out_dir: Path, recall_curves: dict[str, np.ndarray], losses: dict[str, list[float]]) -> None:
    """recall@k for k = 1..K per model, and the per-epoch training loss of each model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in recall_curves.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, label=name)
    ax.set(xlabel="k", ylabel="recall@k", title="Recall@k on the held-out window")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / RECALL_PLOT, dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(losses), figsize=(5 * len(losses), 3.5), squeeze=False)
    for ax, (name, values) in zip(axes[0], losses.items(), strict=True):
        ax.plot(np.arange(1, len(values) + 1), values, marker="o")
        ax.set(xlabel="epoch", ylabel="loss", title=f"{name} training loss")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / LOSS_PLOT, dpi=100)
    plt.close(fig)


def write(
    out_dir: Path,
    report: dict[str, Any],
    recall_curves: dict[str, np.ndarray],
    losses: dict[str, list[float]],
) -> None:
    (out_dir / REPORT_JSON_FILE).write_text(json.dumps(report, indent=2, default=float))
    (out_dir / REPORT_MD_FILE).write_text(markdown(report))
    plots(out_dir, recall_curves, losses)
