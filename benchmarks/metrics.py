"""A server's Prometheus ``/metrics`` scraped before and after a phase: deltas, histogram quantiles.

Parsing is prometheus-client's own text parser (the library serving exposes the metrics with),
so label escaping and sample suffixes follow the exposition format, not a regex of ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Prometheus text format -> {(sample name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def diff_metrics(before: Samples, after: Samples) -> Samples:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


@dataclass
class HistogramDelta:
    count: float
    total: float
    buckets: list[tuple[float, float]]  # (upper bound, cumulative count), ascending, +Inf last

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def quantile(self, q: float) -> float:
        """Prometheus' histogram_quantile: linear interpolation within the bucket holding rank q*count."""
        if not self.count:
            return math.nan
        rank = q * self.count
        lower, below = 0.0, 0.0
        for upper, cum in self.buckets:
            if cum >= rank:
                if math.isinf(upper):
                    return lower  # beyond the last finite bucket: its bound is all we know
                inside = cum - below
                return lower + (upper - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = upper, cum
        return lower


def histograms(
    samples: Samples, metric: str, by: str, where: dict[str, str] | None = None
) -> dict[str, HistogramDelta]:
    """Per value of label ``by``: the histogram delta, summed over other labels (filtered by ``where``)."""
    acc: dict[str, dict[str, Any]] = {}
    for (name, labels), v in samples.items():
        if not name.startswith(metric):
            continue
        d = dict(labels)
        if any(d.get(k) != want for k, want in (where or {}).items()) or by not in d:
            continue
        h = acc.setdefault(d[by], {"count": 0.0, "sum": 0.0, "buckets": {}})
        suffix = name[len(metric) :]
        if suffix == "_count":
            h["count"] += v
        elif suffix == "_sum":
            h["sum"] += v
        elif suffix == "_bucket":
            le = float(d["le"])
            h["buckets"][le] = h["buckets"].get(le, 0.0) + v
    return {
        k: HistogramDelta(h["count"], h["sum"], sorted(h["buckets"].items()))
        for k, h in acc.items()
        if h["count"]
    }


def counters(samples: Samples, metric: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (name, labels), v in samples.items():
        if name in (metric, f"{metric}_total") and v:
            key = ",".join(f"{k}={val}" for k, val in labels if k == label or not label)
            out[key] = out.get(key, 0.0) + v
    return out
