"""Stage timings are buffered and written in bulk: the histogram ends up as if each was observed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from serving.metrics import _LATENCY_BUCKETS, STAGE_FLUSH_EVERY, STAGE_LATENCY, Metrics


def _stage_lines(text: str) -> list[str]:
    return sorted(ln for ln in text.splitlines() if ln.startswith(STAGE_LATENCY) and "_created" not in ln)


def test_buffered_stage_timings_equal_direct_observations() -> None:
    # On bucket bounds, between them and past the last one (+Inf), for two stages.
    values = [0.0005, 0.001, 0.0011, 0.0025, 0.01, 0.3, 3.0]
    requests = [[("retrieve", v), ("score", v / 2)] for v in values]
    metrics = Metrics()
    reference = CollectorRegistry()
    direct = Histogram(STAGE_LATENCY, "reference", ["stage"], buckets=_LATENCY_BUCKETS, registry=reference)
    for timings in requests:
        metrics.observe_stages(timings)
        for stage, seconds in timings:
            direct.labels(stage=stage).observe(seconds)
    # Buffered: nothing written until a flush (here: the exposition of /metrics).
    assert metrics.registry.get_sample_value(f"{STAGE_LATENCY}_count", {"stage": "retrieve"}) is None
    got = _stage_lines(metrics.exposition().decode())
    assert got and got == _stage_lines(generate_latest(reference).decode())
    assert f'{STAGE_LATENCY}_bucket{{le="0.001",stage="retrieve"}} 2.0' in got
    assert f'{STAGE_LATENCY}_bucket{{le="+Inf",stage="retrieve"}} 7.0' in got


def test_the_request_path_flushes_every_few_requests() -> None:
    metrics = Metrics()
    for _ in range(STAGE_FLUSH_EVERY):
        metrics.observe_stages([("rank", 0.002)])
    count = metrics.registry.get_sample_value(f"{STAGE_LATENCY}_count", {"stage": "rank"})
    assert count == STAGE_FLUSH_EVERY  # written without a scrape
