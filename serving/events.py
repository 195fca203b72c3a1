"""Event ingestion and impression logging: the write side of the serving API.

Kept apart from the recommendation path: it has its own dependencies (the store, the metrics,
the catalogue check, the experiment assignment for click attribution); the recommendation
path only calls ``log_impressions``. What an event does to Redis is the contracts' one
script (``lambdarec_contracts.user_state``), shared with the speed-layer worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from lambdarec_contracts import redis_keys
from lambdarec_contracts.events import POSITIVE_EVENT_TYPES, Event, Impression, impression_to_stream_fields
from lambdarec_contracts.user_state import EventWriter, UserStateLimits

from .experiments import ExperimentsConfig, assign
from .metrics import Metrics
from .store import Store, StoreUnavailable

log = logging.getLogger(__name__)

# Is this item in the served catalogue? None when serving cannot tell (no bundle loaded).
CatalogueCheck = Callable[[str], bool | None]


class EventRejected(ValueError):
    """The batch breaks a rule the schema cannot express (e.g. a timestamp outside the window)."""


def timestamp_problems(
    events: Sequence[Event], now: datetime, max_age: timedelta, max_ahead: timedelta
) -> list[str]:
    """One message per event whose ``ts`` is outside [now - max_age, now + max_ahead]."""
    lo, hi = now - max_age, now + max_ahead
    return [
        f"events.{i}.ts: {e.ts.isoformat()} is outside the accepted window "
        f"[{lo.isoformat(timespec='seconds')}, {hi.isoformat(timespec='seconds')}]"
        for i, e in enumerate(events)
        if not lo <= e.ts <= hi
    ]


class EventService:
    """Accepts posted events (idempotently, atomically) and logs served impressions."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        experiments: ExperimentsConfig,
        limits: UserStateLimits,
        catalogue: CatalogueCheck,
        max_age_s: float,
        max_ahead_s: float,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.experiments = experiments
        self.writer = EventWriter(limits)
        self.catalogue = catalogue
        self.max_age = timedelta(seconds=max_age_s)
        self.max_ahead = timedelta(seconds=max_ahead_s)

    def ingest(self, events: Sequence[Event]) -> tuple[int, int]:
        """(accepted, duplicates). Raises EventRejected (nothing written) or StoreUnavailable."""
        problems = timestamp_problems(events, datetime.now(UTC), self.max_age, self.max_ahead)
        if problems:
            raise EventRejected("; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""))
        known = [self.catalogue(e.item_id) for e in events]
        flags = self.store.run(lambda c: self.writer.ingest(c, events, known))
        new = [e for e, ok in zip(events, flags, strict=True) if ok]
        self.metrics.events.labels(result="accepted").inc(len(new))
        self.metrics.events.labels(result="duplicate").inc(len(events) - len(new))
        for e in new:
            if e.type in POSITIVE_EVENT_TYPES:
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
        ts: datetime | None = None,
    ) -> None:
        """Append one impression per served item to the impressions stream; best effort."""
        self.write_impressions(
            self.impressions(request_id, user_id, items, model_version, variant, experiment, ts)
        )

    @staticmethod
    def impressions(
        request_id: str,
        user_id: str,
        items: Sequence[dict[str, Any]],
        model_version: str | None,
        variant: str,
        experiment: str | None,
        ts: datetime | None = None,
    ) -> list[Impression]:
        now = ts or datetime.now(UTC)
        return [
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

    def write_impressions(self, entries: Sequence[Impression]) -> bool:
        """One pipeline of XADDs (any number of served lists); False when Redis was unavailable."""

        def queue(p: Any) -> None:
            for e in entries:
                # No MAXLEN: only the worker trims, below what it has acknowledged.
                p.xadd(redis_keys.IMPRESSIONS_STREAM, impression_to_stream_fields(e))  # type: ignore[arg-type]

        try:
            self.store.pipeline(queue)
        except StoreUnavailable:
            self.metrics.degraded.labels(reason="impressions_not_logged").inc()
            return False
        return True
