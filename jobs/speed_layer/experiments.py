"""Experiment report: attribute clicks to impressions, then per-variant CTR statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import pandas as pd

from lambdarec_contracts.ab_stats import sample_size_per_variant, two_proportion_z_test, wilson_interval
from lambdarec_contracts.events import POSITIVE_EVENT_TYPES

# Events that count as a click on an impression: the positive implicit events of the contracts.
CLICK_EVENT_TYPES = POSITIVE_EVENT_TYPES


def attribute_clicks(impressions: pd.DataFrame, events: pd.DataFrame, window: timedelta) -> pd.DataFrame:
    """``impressions`` plus a bool ``clicked`` column.

    Each click/like goes to the latest impression of the same user and item shown at or
    before it and at most ``window`` earlier (last touch), so one click never counts for
    two impressions; an impression is clicked when it received at least one click.
    """
    imps = impressions.reset_index(drop=True).copy()
    imps["_imp"] = range(len(imps))
    clicks = events[events["event_type"].isin(list(CLICK_EVENT_TYPES))][["user_id", "item_id", "event_ts"]]
    if imps.empty or clicks.empty:
        imps["clicked"] = False
        return imps.drop(columns=["_imp"])
    matched = pd.merge_asof(
        clicks.sort_values("event_ts"),
        imps[["user_id", "item_id", "impression_ts", "_imp"]].sort_values("impression_ts"),
        left_on="event_ts",
        right_on="impression_ts",
        by=["user_id", "item_id"],
        direction="backward",
        tolerance=pd.Timedelta(window),
    )
    hit = set(matched["_imp"].dropna().astype(int))
    imps["clicked"] = imps["_imp"].isin(hit)
    return imps.drop(columns=["_imp"])


@dataclass
class VariantStats:
    experiment: str
    variant: str
    impressions: int
    clicks: int
    ctr: float
    ci_low: float
    ci_high: float
    diff_vs_control: float | None
    z: float | None
    p_value: float | None
    required_per_variant: int | None
    still_needed: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def variant_report(
    counts: dict[str, tuple[int, int]], experiment: str, control: str, mde: float, alpha: float = 0.05,
    power: float = 0.8,
) -> list[VariantStats]:  # fmt: skip
    """Per-variant statistics from ``{variant: (clicks, impressions)}``; control first.

    The sample size uses the control's CTR as the baseline (or the pooled CTR without a control).
    """
    total_x = sum(x for x, _ in counts.values())
    total_n = sum(n for _, n in counts.values())
    if control in counts and counts[control][1] > 0:
        baseline = counts[control][0] / counts[control][1]
    else:
        baseline = total_x / total_n if total_n else 0.0
    required = sample_size_per_variant(baseline, mde, alpha, power)
    rows = []
    for variant in sorted(counts, key=lambda v: (v != control, v)):
        x, n = counts[variant]
        lo, hi = wilson_interval(x, n)
        test = None
        if variant != control and control in counts:
            test = two_proportion_z_test(counts[control][0], counts[control][1], x, n)
        rows.append(
            VariantStats(
                experiment=experiment,
                variant=variant,
                impressions=n,
                clicks=x,
                ctr=x / n if n else 0.0,
                ci_low=lo,
                ci_high=hi,
                diff_vs_control=None if test is None else test.diff,
                z=None if test is None else test.z,
                p_value=None if test is None else test.p_value,
                required_per_variant=required,
                still_needed=None if required is None else max(0, required - n),
            )
        )
    return rows


def experiment_counts(attributed: pd.DataFrame) -> dict[str, dict[str, tuple[int, int]]]:
    """``{experiment: {variant: (clicked impressions, impressions)}}``; no experiment -> "(none)"."""
    df = attributed.assign(experiment=attributed["experiment"].fillna("(none)"))
    grouped = df.groupby(["experiment", "variant"])["clicked"].agg(["sum", "count"])
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for (exp, variant), row in grouped.iterrows():
        out.setdefault(str(exp), {})[str(variant)] = (int(row["sum"]), int(row["count"]))
    return out


def format_table(rows: list[VariantStats]) -> str:
    """A fixed-width text table of a report."""
    head = (
        f"{'experiment':<16} {'variant':<12} {'impr':>8} {'clicks':>7} {'CTR':>7} {'95% CI':>17} "
        f"{'diff':>8} {'p':>7} {'n/variant':>10} {'needed':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ci = f"[{r.ci_low:.4f},{r.ci_high:.4f}]"
        diff = "" if r.diff_vs_control is None else f"{r.diff_vs_control:+.4f}"
        p = "" if r.p_value is None else f"{r.p_value:.4f}"
        req = "" if r.required_per_variant is None else str(r.required_per_variant)
        need = "" if r.still_needed is None else str(r.still_needed)
        lines.append(
            f"{r.experiment:<16} {r.variant:<12} {r.impressions:>8} {r.clicks:>7} {r.ctr:>7.4f} {ci:>17} "
            f"{diff:>8} {p:>7} {req:>10} {need:>8}"
        )
    return "\n".join(lines)
