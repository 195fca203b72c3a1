"""Impression logging off the request path: served lists queue here, one thread writes them.

A request only appends to an in-memory queue; a background thread turns everything queued
into one pipeline of XADDs every ``flush_s`` (so N requests cost one round trip, not N, and no
request waits for it). Order is kept (one writer, FIFO). Best effort, as before: when Redis is
down the batch is counted under ``impressions_not_logged`` and dropped, and the queue is
bounded so an outage cannot grow memory without limit.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .events import EventService
from .metrics import Metrics

log = logging.getLogger(__name__)


class ImpressionWriter:
    def __init__(
        self, events: EventService, metrics: Metrics, flush_s: float = 0.01, max_pending: int = 20_000
    ) -> None:
        self.events = events
        self.metrics = metrics
        self.flush_s = flush_s
        self.max_pending = max_pending
        self._pending: deque[tuple[Any, ...]] = deque()
        self._flush_lock = threading.Lock()  # one writer at a time: stream order = queue order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(
        self,
        request_id: str,
        user_id: str,
        items: Sequence[dict[str, Any]],
        model_version: str | None,
        variant: str,
        experiment: str | None,
    ) -> None:
        """Queue one served list (O(1); the list was served whatever happens to its log)."""
        if len(self._pending) >= self.max_pending:
            self._pending.popleft()
            self.metrics.degraded.labels(reason="impressions_not_logged").inc()
        self._pending.append(
            (request_id, user_id, items, model_version, variant, experiment, datetime.now(UTC))
        )
        if self._thread is None:  # not started (or flush_s <= 0): write at once, as before
            self.flush()

    def flush(self) -> int:
        """Write everything queued so far in one pipeline; returns how many lists were written."""
        with self._flush_lock:
            batch = []
            while self._pending:
                batch.append(self._pending.popleft())
            if not batch:
                return 0
            entries = [e for args in batch for e in self.events.impressions(*args)]
            return len(batch) if self.events.write_impressions(entries) else 0

    def start(self) -> None:
        if self._thread is not None or self.flush_s <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(self.flush_s):
                try:
                    self.flush()
                except Exception:  # the writer must never die
                    log.exception("impression flush failed")

        self._thread = threading.Thread(target=loop, name="impressions", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()
