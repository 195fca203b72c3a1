"""Evaluation report of a bundle: report.json, report.md (tables) and PNG plots next to them."""

from __future__ import annotations

import json
import sys
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


SERVED_TABLE_METRICS = ("recall@10", "recall@50", "ndcg@10", "hit_rate@10", "coverage@10", "novelty@10")


def served_table(report: dict[str, Any]) -> str:
    """The table ``make pipeline`` prints: the served blend next to the baselines, same users, same split."""
    models: dict[str, dict[str, float]] = report["retrieval"]
    best = max((models[b]["recall@10"] for b in ("ease", "item_knn") if b in models), default=0.0)
    pop_cov = models.get("most_popular", {}).get("coverage@10") or 0.0
    head = ["model", *SERVED_TABLE_METRICS, "vs best of EASE/item-kNN"]
    rows = []
    for name, m in models.items():
        lift = f"{m['recall@10'] / best:.2f}x" if best > 0 else "n/a"
        rows.append([name, *(_fmt(m.get(k)) for k in SERVED_TABLE_METRICS), lift])
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(("{:<" if i == 0 else "{:>") + f"{w}}}" for i, w in enumerate(widths))
    out = [
        f"Served blend vs baselines ({report['split']['protocol']}; "
        f"{report['split']['n_eval_users']} users, {report['split']['n_catalogue']} items, full catalogue):",
        fmt.format(*head),
        *(fmt.format(*r) for r in rows),
    ]
    served = models.get("served", {})
    if pop_cov and served:
        out.append(f"coverage@10 of the served lists = {served['coverage@10'] / pop_cov:.1f}x most-popular's")
    seen = report.get("served", {}).get("seen_items_served")
    if seen is not None:
        out.append(f"items from the user's own history among the served lists: {seen}")
    share = report.get("served", {}).get("generator_share@10", {})
    if share:
        out.append(
            "share of served top-10 slots per generator: "
            + ", ".join(f"{g} {v:.0%}" for g, v in share.items())
        )
    return "\n".join(out)


def markdown(report: dict[str, Any]) -> str:
    """The human report: the served blend vs the baselines, ranker metrics, timings."""
    models: dict[str, dict[str, float]] = report["retrieval"]
    lines = [
        f"# Bundle {report['bundle_version']}",
        "",
        f"Evaluation: {report['split']['protocol']} ({report['split']['n_eval_users']} users, full catalogue of "
        f"{report['split']['n_catalogue']} items, items of the user's training history excluded). "
        "`served` is serving's own pipeline replayed for each user; the others rank the full catalogue.",
        "",
        "## What is served, and the baselines",
        "",
        "```",
        served_table(report),
        "```",
        "",
        "| model | " + " | ".join(TABLE_METRICS) + " |",
        "| --- | " + " | ".join("---:" for _ in TABLE_METRICS) + " |",
    ]
    for name, m in models.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(m.get(k)) for k in TABLE_METRICS) + " |")
    lines += [
        "",
        f"![recall@k]({RECALL_PLOT})",
        "",
        "## Ranker (served-like candidates of held-out validation users)",
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
    ax.set(xlabel="k", ylabel="recall@k", title="Recall@k on the held-out interactions")
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


def main(argv: list[str] | None = None) -> int:
    """``python -m training.report BUNDLE_DIR``: print the bundle's served-blend table."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m training.report", description=main.__doc__)
    p.add_argument("bundle", type=Path, help="a bundle directory (e.g. $LAMBDAREC_DATA_DIR/models/current)")
    args = p.parse_args(argv)
    path = args.bundle / REPORT_JSON_FILE
    if not path.exists():
        print(f"no report at {path}", file=sys.stderr)
        return 2
    report = json.loads(path.read_text())
    if "served" not in report.get("retrieval", {}):
        print(f"{args.bundle.name}: built before the served evaluation (no served-blend table)")
        return 0
    print(f"bundle {report['bundle_version']}")
    print(served_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
