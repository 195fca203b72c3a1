"""Impression logging off the request path: served lists queue here, one thread writes them.

A request only appends to an in-memory queue; a background thread turns everything queued
into one pipeline of XADDs every ``flush_s`` (so N requests cost one round trip, not N, and no
request waits for it). Entries are exactly ``EventService.log_impressions``' (the contract's
``impression_to_stream_fields``); a list served again from cache reuses its encoded entries and
only request_id and ts are filled in per request. Order is kept (one writer, FIFO). Best effort, as before: when Redis is
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

from lambdarec_contracts import redis_keys
from lambdarec_contracts.events import impression_to_stream_fields

from .events import EventService
from .metrics import Metrics
from .store import StoreUnavailable

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE = [{"item_id": "i", "source": "s"}]  # a stand-in list, to locate and encode per-request fields


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
        self._encoded: dict[tuple[Any, ...], tuple[Any, list[list[bytes]]]] = {}
        # Where request_id and ts sit among the contract's fields (name, value, name, value, ...).
        names = list(
            impression_to_stream_fields(
                EventService.impressions("", "u", [{"item_id": "i", "source": "s"}], None, "v", None, _EPOCH)[
                    0
                ]
            )
        )
        self._rid_at, self._ts_at = 2 * names.index("request_id"), 2 * names.index("ts")

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

    def _request_fields(self, request_id: str, ts: datetime) -> tuple[bytes, bytes]:
        """request_id and ts as the contract encodes them (one model per request, not per item)."""
        f = impression_to_stream_fields(
            self.events.impressions(request_id, "u", _ONE, None, "v", None, ts)[0]
        )
        return f["request_id"].encode(), f["ts"].encode()

    def _templates(self, args: tuple[Any, ...]) -> list[list[bytes]]:
        """The list's stream entries encoded once (the contract's encoding), request-specific
        fields blank; a cached list served again reuses them."""
        request_id, user_id, items, model_version, variant, experiment, _ = args
        key = (id(items), user_id, model_version, variant, experiment)
        hit = self._encoded.get(key)
        if hit is not None and hit[0] is items:
            return hit[1]
        flat = []
        for e in self.events.impressions("", user_id, items, model_version, variant, experiment, _EPOCH):
            fields = impression_to_stream_fields(e)
            flat.append([b for k, v in fields.items() for b in (k.encode(), v.encode())])
        if len(self._encoded) > 10_000:
            self._encoded.clear()
        self._encoded[key] = (items, flat)
        return flat

    def flush(self) -> int:
        """Write everything queued so far in one pipeline; returns how many lists were written."""
        with self._flush_lock:
            batch = []
            while self._pending:
                batch.append(self._pending.popleft())
            if not batch:
                return 0
            commands = []
            for args in batch:
                rid, ts = (
                    args[0].encode(),
                    impression_to_stream_fields(
                        self.events.impressions(
                            "", "u", [{"item_id": "i", "source": "s"}], None, "v", None, args[6]
                        )[0]
                    )["ts"].encode(),
                )
                for flat in self._templates(args):
                    row = list(flat)
                    row[self._rid_at + 1], row[self._ts_at + 1] = rid, ts
                    commands.append(row)

            def queue(p: Any) -> None:
                for row in commands:
                    # No MAXLEN: only the worker trims, below what it has acknowledged.
                    p.execute_command("XADD", redis_keys.IMPRESSIONS_STREAM, "*", *row)

            try:
                self.events.store.pipeline(queue)
            except StoreUnavailable:
                self.metrics.degraded.labels(reason="impressions_not_logged").inc(len(batch))
                return 0
            return len(batch)

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
