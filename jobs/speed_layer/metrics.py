"""Prometheus metrics of the stream worker (served with ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

STREAM_LAG = "lambdarec_stream_lag_entries"
STREAM_PENDING = "lambdarec_stream_pending_entries"
STREAM_ENTRIES = "lambdarec_stream_entries_total"
STREAM_LOST = "lambdarec_stream_lost_entries_total"
STREAM_TRIMMED = "lambdarec_stream_trimmed_entries_total"
WORKER_REDIS_ERRORS = "lambdarec_stream_worker_redis_errors_total"
WORKER_GROUP_RECREATED = "lambdarec_stream_worker_group_recreated_total"


class WorkerMetrics:
    """One registry per worker (tests build several workers in one process)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.lag = Gauge(
            STREAM_LAG, "Entries appended but not yet delivered to the group", ["stream"], registry=r
        )
        self.pending = Gauge(STREAM_PENDING, "Entries delivered but not acknowledged", ["stream"], registry=r)
        self.entries = Counter(
            STREAM_ENTRIES,
            "Entries processed, by kind (event, impression, dead)",
            ["stream", "kind"],
            registry=r,
        )
        # Must stay 0: an entry left pending whose payload disappeared before it was processed.
        self.lost = Counter(
            STREAM_LOST, "Pending entries found without payload (lost)", ["stream"], registry=r
        )
        self.trimmed = Counter(
            STREAM_TRIMMED, "Processed entries trimmed from the stream", ["stream"], registry=r
        )
        self.redis_errors = Counter(WORKER_REDIS_ERRORS, "Redis errors the loop backed off from", registry=r)
        self.group_recreated = Counter(
            WORKER_GROUP_RECREATED, "Consumer group recreated after NOGROUP (Redis lost its data)", registry=r
        )
