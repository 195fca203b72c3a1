"""The benchmarks' /metrics arithmetic on an exposition written by prometheus-client itself."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from benchmarks.metrics import counters, diff_metrics, histograms, parse_metrics

ENDPOINT = "/v1/recommendations/{user_id}"  # braces and slashes inside a label value


def _scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_histogram_delta_and_quantile_between_two_scrapes() -> None:
    reg = CollectorRegistry()
    h = Histogram("lat_seconds", "latency", ["endpoint"], registry=reg, buckets=(0.005, 0.01, 0.025))
    c = Counter("cache_requests", "lookups", ["result"], registry=reg)
    h.labels(ENDPOINT).observe(0.5)  # before the phase: must not count
    before = parse_metrics(_scrape(reg))
    for v in (0.001, 0.003, 0.02):
        h.labels(ENDPOINT).observe(v)
    c.labels('miss "cold"').inc(2)
    delta = diff_metrics(before, parse_metrics(_scrape(reg)))

    got = histograms(delta, "lat_seconds", "endpoint")[ENDPOINT]
    assert got.count == 3
    assert math.isclose(got.total, 0.024)
    # rank 1.5 falls in the first bucket (2 of 3 observations <= 5 ms): 0.005 * 1.5 / 2
    assert math.isclose(got.quantile(0.5), 0.00375)
    # rank 2.85 falls in (0.01, 0.025], which holds one observation: 0.01 + 0.015 * 0.85
    assert math.isclose(got.quantile(0.95), 0.01 + 0.015 * 0.85)
    assert counters(delta, "cache_requests", "result") == {'result=miss "cold"': 2.0}
