"""Event ingestion: the write side of the serving API.

Kept apart from the recommendation path: it has its own dependencies (the store, the metrics,
the catalogue check, the experiment assignment for click attribution). Served impressions are
logged by ``serving.impressions``. What an event does to Redis is the contracts' one script
(``lambdarec_contracts.user_state``), shared with the speed-layer worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from lambdarec_contracts.events import POSITIVE_EVENT_TYPES, Event
from lambdarec_contracts.user_state import EventWriter, UserStateLimits

from .experiments import ExperimentsConfig, assign
from .metrics import Metrics
from .store import Store

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
    """Accepts posted events (idempotently, atomically)."""

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
