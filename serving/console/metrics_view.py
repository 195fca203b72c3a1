"""The console's live figures, read from the process's Prometheus registry (no text parsing).

Latency quantiles are estimated from the histogram buckets (the upper bound of the bucket the
quantile falls in, like Prometheus' ``histogram_quantile`` without interpolation). With
``PROMETHEUS_MULTIPROC_DIR`` set the registry aggregates every worker, as ``/metrics`` does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

from lambdarec_contracts.ab_stats import wilson_interval

from .. import metrics as m
from ..experiments import DEFAULT_VARIANT, ExperimentsConfig


def samples(registry: CollectorRegistry) -> list[Sample]:
    return [s for metric in registry.collect() for s in metric.samples]


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Upper bound (seconds) of the bucket holding quantile ``q`` of cumulative ``(le, count)``."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    target = q * buckets[-1][1]
    for le, cum in buckets:
        if cum >= target:
            return le
    return None


def _ms(v: float | None) -> float | None:
    return None if v is None or math.isinf(v) else round(v * 1000.0, 3)


def histograms(all_samples: list[Sample], name: str, label: str) -> list[dict[str, Any]]:
    """Per value of ``label``: count, mean and estimated p50/p95/p99 in milliseconds."""
    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, float] = defaultdict(float)
    for s in all_samples:
        key = s.labels.get(label)
        if key is None:
            continue
        if s.name == f"{name}_bucket":
            buckets[key].append((float(s.labels["le"]), s.value))
        elif s.name == f"{name}_sum":
            sums[key] += s.value
        elif s.name == f"{name}_count":
            counts[key] += s.value
    out = []
    for key in sorted(counts):
        n = counts[key]
        if n <= 0:
            continue
        merged: dict[float, float] = defaultdict(float)  # the same label under several statuses
        for le, c in buckets[key]:
            merged[le] += c
        cum = sorted(merged.items())
        out.append(
            {
                label: key,
                "count": int(n),
                "mean_ms": _ms(sums[key] / n),
                "p50_ms": _ms(_quantile(cum, 0.5)),
                "p95_ms": _ms(_quantile(cum, 0.95)),
                "p99_ms": _ms(_quantile(cum, 0.99)),
            }
        )
    return out


def _counter(all_samples: list[Sample], name: str, *labels: str) -> dict[tuple[str, ...], float]:
    sample = name if name.endswith("_total") else f"{name}_total"  # the name of a counter's samples
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for s in all_samples:
        if s.name == sample:
            out[tuple(s.labels.get(lb, "") for lb in labels)] += s.value
    return out


def cache_rates(all_samples: list[Sample]) -> dict[str, Any]:
    """Hits and misses per cache layer; ``hit_rate`` = share of recommendation requests answered
    from a cache (a local miss goes on to the Redis layer, so requests = local lookups)."""
    counts = _counter(all_samples, m.CACHE, "layer", "result")
    layers: dict[str, dict[str, float]] = {}
    for (layer, result), v in counts.items():
        layers.setdefault(layer, {"hit": 0.0, "miss": 0.0})[result] = v
    local = layers.get("local", {"hit": 0.0, "miss": 0.0})
    requests = local["hit"] + local["miss"]
    hits = local["hit"] + layers.get("redis", {}).get("hit", 0.0)
    return {
        "layers": {k: {r: int(v) for r, v in d.items()} for k, d in sorted(layers.items())},
        "requests": int(requests),
        "hit_rate": hits / requests if requests else None,
    }


def variant_ctr(all_samples: list[Sample], experiments: ExperimentsConfig) -> list[dict[str, Any]]:
    """Live CTR per variant: click/like events of the variant's users per item served to them,
    with a 95 % Wilson interval. Not attributed to impressions (jobs.experiments_report is)."""
    shown = _counter(all_samples, m.IMPRESSIONS, "variant")
    clicks = _counter(all_samples, m.CLICKS, "variant")
    rows = []
    arms: list[tuple[str | None, str]] = [
        (e.name, v.name) for e in experiments.experiments if e.enabled for v in e.variants
    ]
    arms.append((None, DEFAULT_VARIANT))  # users outside every experiment
    for experiment, variant in arms:
        n = int(shown.get((variant,), 0.0))
        x = int(clicks.get((variant,), 0.0))
        if experiment is None and n == 0 and x == 0:
            continue
        lo, hi = wilson_interval(min(x, n), n)
        rows.append(
            {
                "experiment": experiment,
                "variant": variant,
                "impressions": n,
                "clicks": x,
                "ctr": x / n if n else None,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return rows
