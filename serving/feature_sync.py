"""In-memory item features per served bundle, read from Feast's online layout in Redis.

At bundle load (before the swap) every item's batch features are read once (HMGETs in a few
Lua calls, decoded like ``get_online_features``) into an ``ItemFeatures`` matrix. The poller
re-reads them when the materialize job's version stamp changes and swaps the matrix as one
reference; a request takes one ``ItemFeatures`` and uses it to the end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from lambdarec_contracts import redis_keys
from lambdarec_contracts.feature_vectors import ITEM_VECTOR_FEATURE_REFS
from lambdarec_contracts.features import FEAST_PROJECT, ITEM_JOIN_KEY

from .bundle import Bundle
from .online_features import OnlineFeatureReader
from .pipeline.item_features import ItemFeatures
from .store import Store, StoreUnavailable

log = logging.getLogger(__name__)

BATCH = 500  # items per Lua call (keeps each server-side call short)
RETRY_S = 5.0  # a failed read is retried by a request at most this often


def read_item_features(
    client: Any, bundle: Bundle, version: str | None, fetch: str = "lua", batch: int = BATCH
) -> ItemFeatures:
    """Every item of ``bundle`` from Feast's Redis layout (``client``: a redis-py client)."""
    reader = OnlineFeatureReader(FEAST_PROJECT, ITEM_JOIN_KEY, ITEM_VECTOR_FEATURE_REFS)
    ids = bundle.item_ids[1:]
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        if fetch == "lua":
            replies = reader.fetch_lua(client, chunk)
        else:
            with client.pipeline(transaction=False) as p:
                reader.queue(p, chunk)
                replies = p.execute()
        rows.update(zip(chunk, reader.decode(replies), strict=True))
    return ItemFeatures.from_rows(bundle, rows, version)


class ItemFeatureSync:
    def __init__(self, store: Store, bundles: Callable[[], Sequence[Bundle]], fetch: str = "lua") -> None:
        self.store = store
        self.bundles = bundles  # the bundles being served (current + pinned)
        self.fetch = fetch
        self._by_bundle: dict[str, ItemFeatures] = {}
        self._lock = threading.Lock()  # serialises reads, never readers
        self._failed_at: dict[str, float] = {}
        self.on_load: Callable[[ItemFeatures, float], None] | None = None

    def _stamp(self) -> str | None:
        raw = self.store.run(lambda c: c.get(redis_keys.FEATURES_VERSION))
        return raw.decode() if isinstance(raw, bytes) else None

    def _read(self, bundle: Bundle, stamp: str | None) -> ItemFeatures:
        t = time.perf_counter()
        feats = self.store.run(lambda c: read_item_features(c, bundle, stamp, self.fetch))
        log.info(
            "item features of bundle %s (stamp %s): %d of %d items in %.2fs",
            bundle.version, stamp, int(feats.present.sum()), len(feats.present) - 1, time.perf_counter() - t,
        )  # fmt: skip
        if self.on_load is not None:
            self.on_load(feats, time.perf_counter() - t)
        return feats

    def prepare(self, bundle: Bundle) -> None:
        """Read ``bundle``'s features before it is swapped in (a failure is retried later)."""
        with self._lock:
            try:
                self._by_bundle[bundle.version] = self._read(bundle, self._stamp())
            except StoreUnavailable as e:
                log.warning("item features of bundle %s not read yet: %s", bundle.version, e)
                self._failed_at[bundle.version] = time.monotonic()

    def loaded(self, bundle: Bundle) -> bool:
        """True when ``get`` answers from memory (no read of every item's features)."""
        return bundle.version in self._by_bundle

    def get(self, bundle: Bundle) -> ItemFeatures | None:
        """The bundle's features; None when they could not be read (the request degrades)."""
        f = self._by_bundle.get(bundle.version)
        if f is not None:
            return f
        if time.monotonic() - self._failed_at.get(bundle.version, -RETRY_S) < RETRY_S:
            return None
        self.prepare(bundle)
        return self._by_bundle.get(bundle.version)

    def refresh(self) -> bool:
        """Re-read every served bundle's features if the materialization stamp changed."""
        try:
            stamp = self._stamp()
        except StoreUnavailable:
            return False  # the next poll tries again
        served = {b.version: b for b in self.bundles()}
        with self._lock:
            stale = [
                b
                for v, b in served.items()
                if v not in self._by_bundle or self._by_bundle[v].version != stamp
            ]
            new = {v: f for v, f in self._by_bundle.items() if v in served}
        if not stale:
            if len(new) != len(self._by_bundle):
                self._by_bundle = new
            return False
        try:
            for b in stale:
                new[b.version] = self._read(b, stamp)
        except StoreUnavailable as e:
            log.warning("item features not re-read (kept the old ones): %s", e)
            return False
        with self._lock:
            self._by_bundle = new  # one reference: requests see the old or the new matrices
        return True
