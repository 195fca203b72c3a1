"""Every Prometheus metric of the serving API, by name (dashboards are checked against these).

Metrics live in a registry per app instance (tests build many apps in one process). With
``PROMETHEUS_MULTIPROC_DIR`` set (``scripts/serve.sh`` and the image set it; it must be empty when
the server starts) every worker process writes its values there and ``/metrics`` of any worker
aggregates all of them (prometheus-client's multiprocess mode): counters and histograms are
summed over processes, the two gauges report the maximum over live processes.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import prometheus_client as prom
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest, multiprocess, values

if TYPE_CHECKING:
    from .pipeline.trace import Trace

REQUEST_LATENCY = "lambdarec_http_request_duration_seconds"
STAGE_LATENCY = "lambdarec_stage_duration_seconds"
CANDIDATES = "lambdarec_candidates_total"
GENERATOR_FAILURES = "lambdarec_generator_failures_total"
FILTER_DROPS = "lambdarec_filter_dropped_total"
CACHE = "lambdarec_cache_requests_total"
DEGRADED = "lambdarec_degraded_responses_total"
BUNDLE_INFO = "lambdarec_bundle_info"
BUNDLE_LOADS = "lambdarec_bundle_loads_total"
EVENTS = "lambdarec_events_total"
IMPRESSIONS = "lambdarec_impressions_total"
CLICKS = "lambdarec_clicks_total"
COVERAGE = "lambdarec_catalogue_coverage_ratio"
DIVERSITY = "lambdarec_intra_list_diversity"
RECOMMENDATIONS = "lambdarec_recommendations_total"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Stage timings are buffered per request and written in bulk (see ``observe_stages``).
STAGE_FLUSH_EVERY = 64


class Metrics:
    """The serving metrics, registered in their own registry."""

    def __init__(self) -> None:
        # Multiprocess only if prometheus-client chose its file-backed values at import (the
        # variable set later, e.g. by importing feast, would collect from an empty directory).
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")) and (
            values.ValueClass is not values.MutexValue
        )
        self._versions: set[str] = set()
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._stages: deque[Sequence[tuple[str, float]]] = deque()
        self._flush_lock = threading.Lock()
        r = self.registry = CollectorRegistry()
        self.request_latency = Histogram(
            REQUEST_LATENCY,
            "HTTP request latency",
            ["endpoint", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_latency = Histogram(
            STAGE_LATENCY,
            "Latency of one stage of the recommendation path",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.candidates = prom.Counter(
            CANDIDATES, "Candidates produced per generator", ["generator"], registry=r
        )
        self.generator_failures = prom.Counter(
            GENERATOR_FAILURES, "Generator runs that failed or timed out", ["generator", "kind"], registry=r
        )
        self.filter_drops = prom.Counter(
            FILTER_DROPS, "Candidates dropped per filter", ["filter"], registry=r
        )
        self.cache = prom.Counter(CACHE, "Recommendation cache lookups", ["layer", "result"], registry=r)
        self.degraded = prom.Counter(DEGRADED, "Responses served degraded, by reason", ["reason"], registry=r)
        self.bundle_info = Gauge(
            BUNDLE_INFO,
            "1 for the bundle version being served",
            ["version"],
            registry=r,
            multiprocess_mode="livemax",  # 1 while any live worker serves the version
        )
        self.bundle_loads = prom.Counter(BUNDLE_LOADS, "Bundle loads by result", ["result"], registry=r)
        self.events = prom.Counter(EVENTS, "Posted events by result", ["result"], registry=r)
        self.impressions = prom.Counter(IMPRESSIONS, "Items served", ["variant", "source"], registry=r)
        # Clicks and likes by the poster's variant: with impressions, CTR per variant on dashboards
        # (the experiment report attributes clicks to impressions exactly, from the landed stream).
        self.clicks = prom.Counter(
            CLICKS, "Click and like events by the user's A/B variant", ["variant"], registry=r
        )
        self.recommendations = prom.Counter(
            RECOMMENDATIONS, "Recommendation responses", ["variant", "cached"], registry=r
        )
        self.coverage = Gauge(
            COVERAGE,
            "Share of the bundle catalogue served since the bundle was loaded (best worker)",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.diversity = Histogram(
            DIVERSITY,
            "Intra-list diversity of served lists (1 - mean pairwise genre Jaccard)",
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
            registry=r,
        )

    def set_bundle(self, version: str) -> None:
        # Zero the versions this process served before rather than clearing them: in multiprocess
        # mode other workers' files keep their values, and clear() is not supported there.
        for old in self._versions - {version}:
            self.bundle_info.labels(version=old).set(0)
        self._versions.add(version)
        self.bundle_info.labels(version=version).set(1)

    def collecting_registry(self) -> CollectorRegistry:
        """What to expose: this app's registry, or every worker's values in multiprocess mode."""
        if not self.multiprocess:
            return self.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry

    def exposition(self) -> bytes:
        self.flush()
        return generate_latest(self.collecting_registry())

    def child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, resolved once per label set (labels() takes a lock each call)."""
        key = (metric, values)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(*values)
        return c

    def observe_stages(self, timings: Sequence[tuple[str, float]]) -> None:
        """Queue one request's (stage, seconds) for the stage histogram (O(1) on the request path).

        In multiprocess mode every observation is two locked writes to a memory-mapped file; a
        request has ~15 stages. Buffered, they are summed per stage and bucket and written every
        ``STAGE_FLUSH_EVERY`` requests, on ``/metrics`` and by the poller (idle tails).
        """
        self._stages.append(timings)
        if len(self._stages) >= STAGE_FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Write the buffered stage timings: per stage one sum and one count per bucket hit."""
        with self._flush_lock:
            agg: dict[str, tuple[list[float], list[int]]] = {}
            bounds = _LATENCY_BUCKETS
            while self._stages:
                for stage, seconds in self._stages.popleft():
                    a = agg.get(stage)
                    if a is None:
                        a = agg[stage] = ([0.0], [0] * (len(bounds) + 1))
                    a[0][0] += seconds
                    a[1][bisect_left(bounds, seconds)] += 1  # Histogram.observe: first bound >= value
            for stage, (total, counts) in agg.items():
                c = self.child(self.stage_latency, stage)
                c._sum.inc(total[0])
                for i, n in enumerate(counts):
                    if n:
                        c._buckets[i].inc(n)

    def close(self) -> None:
        """A worker shuts down: its live gauges stop counting (counters and histograms stay)."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())

    def record_trace(self, trace: Trace) -> None:
        """A finished request's pipeline trace as metrics (the pipeline itself only records)."""
        self.observe_stages(trace.timings)
        for generator, n in trace.candidates.items():
            self.child(self.candidates, generator).inc(n)
        for generator, kind in trace.generator_failures:
            self.generator_failures.labels(generator=generator, kind=kind).inc()
        for name, n in trace.filter_drops.items():
            self.child(self.filter_drops, name).inc(n)

    def record_served(
        self, variant: str, cached: bool, sources: Iterable[tuple[str, int]], reasons: Sequence[str]
    ) -> None:
        """One answered request: ``sources`` are the list's (source, items) counts."""
        for reason in reasons:
            self.degraded.labels(reason=reason.split(":")[0]).inc()
        self.child(self.recommendations, variant, "true" if cached else "false").inc()
        for source, n in sources:
            self.child(self.impressions, variant, source).inc(n)
