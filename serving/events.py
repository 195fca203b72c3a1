"""Event ingestion and impression logging: the write side of the serving API.

Kept apart from the recommendation path: it has its own dependencies (the store, the metrics,
the experiment assignment for click attribution) and the recommendation path only calls
``log_impressions``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from lambdarec_contracts import redis_keys
from lambdarec_contracts.events import (
    Event,
    Impression,
    event_to_stream_fields,
    impression_to_stream_fields,
)
from lambdarec_contracts.tables import POSITIVE_RATING

from .experiments import ExperimentsConfig, assign
from .metrics import Metrics
from .store import Store, StoreUnavailable

log = logging.getLogger(__name__)

RECENT_LIST_LEN = 50


def is_positive(e: Event) -> bool:
    return e.type in ("click", "like") or (e.type == "rating" and (e.value or 0.0) >= POSITIVE_RATING)


class EventService:
    """Accepts posted events (idempotently) and logs served impressions to the stream."""

    def __init__(
        self, store: Store, metrics: Metrics, experiments: ExperimentsConfig, stream_maxlen: int
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.experiments = experiments
        self.stream_maxlen = stream_maxlen

    def ingest(self, events: Sequence[Event]) -> tuple[int, int]:
        """Idempotent by event_id; new events go to the stream and update the user's state now."""
        ttl = redis_keys.EVENT_DEDUP_TTL_S

        def mark(p: Any) -> None:
            for e in events:
                p.set(redis_keys.event_seen(e.event_id), 1, nx=True, ex=ttl)

        flags = self.store.pipeline(mark)
        new = [e for e, ok in zip(events, flags, strict=True) if ok]
        if new:

            def apply(p: Any) -> None:
                for e in new:
                    p.xadd(
                        redis_keys.EVENTS_STREAM,
                        event_to_stream_fields(e),  # type: ignore[arg-type]
                        maxlen=self.stream_maxlen,
                        approximate=True,
                    )
                    if e.type == "not_interested":
                        p.sadd(redis_keys.not_interested(e.user_id), e.item_id)
                    else:
                        p.sadd(redis_keys.seen_items(e.user_id), e.item_id)
                    if is_positive(e):
                        p.lrem(redis_keys.recent_items(e.user_id), 0, e.item_id)
                        p.lpush(redis_keys.recent_items(e.user_id), e.item_id)
                        p.ltrim(redis_keys.recent_items(e.user_id), 0, RECENT_LIST_LEN - 1)
                for u in {e.user_id for e in new}:
                    p.incr(redis_keys.rec_cache_generation(u))

            self.store.pipeline(apply)
        self.metrics.events.labels(result="accepted").inc(len(new))
        self.metrics.events.labels(result="duplicate").inc(len(events) - len(new))
        for e in new:
            if e.type in ("click", "like"):
                self.metrics.clicks.labels(variant=assign(self.experiments, e.user_id).variant.name).inc()
        return len(new), len(events) - len(new)

    def log_impressions(
        self,
        request_id: str,
        user_id: str,
        items: Sequence[dict[str, Any]],
        model_version: str | None,
        variant: str,
        experiment: str | None,
    ) -> None:
        """Append one impression per served item; best effort (the list was served anyway)."""
        now = datetime.now(UTC)
        entries = [
            Impression(
                request_id=request_id,
                user_id=user_id,
                item_id=it["item_id"],
                position=pos,
                model_version=model_version or "",
                variant=variant,
                experiment=experiment,
                source=it["source"],
                ts=now,
            )
            for pos, it in enumerate(items)
        ]

        def queue(p: Any) -> None:
            for e in entries:
                p.xadd(
                    redis_keys.EVENTS_STREAM,
                    impression_to_stream_fields(e),  # type: ignore[arg-type]
                    maxlen=self.stream_maxlen,
                    approximate=True,
                )

        try:
            self.store.pipeline(queue)
        except StoreUnavailable:
            self.metrics.degraded.labels(reason="impressions_not_logged").inc()
