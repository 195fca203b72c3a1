"""Impression logging off the request path: served lists queue here, one thread writes them.

A request only appends to an in-memory queue; a background thread turns everything queued into
ONE server-side script call every ``flush_s`` (one round trip for many requests, none of them
waiting for it). The entries are ``impression_fields``' (one contract ``Impression`` per served
item, in order, encoded by the contract's ``impression_to_stream_fields``; one XADD each).
The call is encoded here once per served list (one contract model for the list-wide fields,
not one per item) and reused when the list is served again from cache (only request_id and ts
change): redis-py's per-argument packing of ten 20-field XADDs
per request cost more CPU than the rest of a cache hit. Best effort, as before: when Redis is
down the lists are counted under ``impressions_not_logged`` and dropped, and the queue is
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
from lambdarec_contracts.events import Impression, impression_to_stream_fields

from .metrics import Metrics
from .resp import bulk
from .store import Store, StoreUnavailable

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE = [{"item_id": "i", "source": "s"}]  # a stand-in list, to learn the contract's field order
# ARGV: n_fields, the field names, then n_fields values per entry. One XADD per entry, no MAXLEN
# (only the worker trims, below what it has acknowledged).
_XADD_MANY = b"""
local nf = tonumber(ARGV[1])
local n = 0
for base = 2 + nf, #ARGV, nf do
  local args = {}
  for j = 1, nf do args[2 * j - 1] = ARGV[1 + j]; args[2 * j] = ARGV[base + j - 1] end
  redis.call('XADD', KEYS[1], '*', unpack(args))
  n = n + 1
end
return n
"""


def impression_fields(
    request_id: str,
    ts: datetime,
    user_id: str,
    items: Sequence[dict[str, Any]],
    model_version: str | None,
    variant: str,
    experiment: str | None,
) -> list[dict[str, str]]:
    """The stream entries of one served list: one contract ``Impression`` per item, in order."""
    return [
        impression_to_stream_fields(
            Impression(
                request_id=request_id,
                user_id=user_id,
                item_id=it["item_id"],
                position=pos,
                model_version=model_version or "",
                variant=variant,
                experiment=experiment,
                source=it["source"],
                ts=ts,
            )
        )
        for pos, it in enumerate(items)
    ]


class ImpressionWriter:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        flush_s: float = 0.05,
        max_pending: int = 20_000,
        max_lists_per_call: int = 4,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.flush_s = flush_s
        self.max_pending = max_pending
        self.max_lists_per_call = max(1, max_lists_per_call)
        self._pending: deque[tuple[Any, ...]] = deque()
        self._flush_lock = threading.Lock()  # one writer at a time: stream order = queue order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._encoded: dict[tuple[Any, ...], tuple[Any, tuple[tuple[bytes, ...], ...]]] = {}
        self.names = list(impression_fields("", _EPOCH, "u", _ONE, None, "v", None)[0])
        self._rid_at, self._ts_at = self.names.index("request_id"), self.names.index("ts")
        self._item_at, self._pos_at = self.names.index("item_id"), self.names.index("position")
        self._source_at = self.names.index("source")

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
            (request_id, datetime.now(UTC), user_id, items, model_version, variant, experiment)
        )
        if self._thread is None:  # not started (or flush_s <= 0): write at once
            self.flush()

    def _encode(
        self,
        user_id: str,
        items: Sequence[dict[str, Any]],
        model_version: str | None,
        variant: str,
        experiment: str | None,
    ) -> tuple[tuple[bytes, ...], ...]:
        """A new list's entries: ONE contract ``Impression`` (the list-wide fields, validated and
        encoded by the contract), its item fields replaced per item as the contract encodes them
        (strings as they are, the position as an int's str): no model per served item."""
        if not items:
            return ()
        row = impression_fields("", _EPOCH, user_id, items[:1], model_version, variant, experiment)[0]
        base = [bulk(v.encode()) for v in row.values()]
        out = []
        for pos, it in enumerate(items):
            r = list(base)
            r[self._item_at], r[self._source_at] = bulk(it["item_id"].encode()), bulk(it["source"].encode())
            r[self._pos_at] = bulk(str(pos).encode())
            out.append(tuple(r))
        # Tuples of bytes, not lists: the cyclic GC stops tracking them, so up to 10,000 cached lists
        # do not make every full collection walk ~100,000 more objects on the event loop.
        return tuple(out)

    def _entries(self, args: tuple[Any, ...]) -> list[list[bytes]]:
        """The list's entries as bulk strings (contract encoding), request_id/ts as in ``args``."""
        request_id, ts, user_id, items, model_version, variant, experiment = args
        key = (id(items), user_id, model_version, variant, experiment)
        hit = self._encoded.get(key)
        if hit is None or hit[0] is not items:
            hit = (items, self._encode(user_id, items, model_version, variant, experiment))
            if len(self._encoded) > 10_000:
                self._encoded.clear()
            self._encoded[key] = hit
        own = impression_fields(request_id, ts, "u", _ONE, None, "v", None)[0]  # one model per request
        rid, when = bulk(own["request_id"].encode()), bulk(own["ts"].encode())
        out = []
        for encoded in hit[1]:
            row = list(encoded)
            row[self._rid_at], row[self._ts_at] = rid, when
            out.append(row)
        return out

    def flush(self) -> int:
        """Write everything queued so far, ``max_lists_per_call`` lists per script call; returns how
        many lists were written.

        A script blocks Redis while it runs (~6 us per XADD): one call for a 50 ms batch of a busy
        worker (2,000 XADDs) held every other client for ~12 ms, the cache hits' GETs included.
        Bounded calls let their commands in between.
        """
        with self._flush_lock:
            batch = []
            while self._pending:
                batch.append(self._pending.popleft())
            written = 0
            for lo in range(0, len(batch), self.max_lists_per_call):
                chunk = batch[lo : lo + self.max_lists_per_call]
                try:
                    self.store.run(self._sender(chunk))
                except StoreUnavailable:
                    self.metrics.degraded.labels(reason="impressions_not_logged").inc(len(batch) - lo)
                    return written
                written += len(chunk)
            return written

    def _sender(self, chunk: list[tuple[Any, ...]]) -> Any:
        values = [b for args in chunk for row in self._entries(args) for b in row]
        head = [
            b"EVAL",
            _XADD_MANY,
            b"1",
            redis_keys.IMPRESSIONS_STREAM.encode(),
            str(len(self.names)).encode(),
        ]
        head += [n.encode() for n in self.names]
        payload = b"*%d\r\n" % (len(head) + len(values)) + b"".join(map(bulk, head)) + b"".join(values)

        def send(client: Any) -> Any:
            conn = client.connection_pool.get_connection()
            try:
                conn.send_packed_command([payload])
                return conn.read_response()
            except BaseException:
                conn.disconnect()  # a half-read reply must not go back to the pool
                raise
            finally:
                client.connection_pool.release(conn)

        return send

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
