"""Cached recommendation lists, kept as the serialised response.

A hit splices the per-request fields (``cached``, ``request_id``) onto stored bytes: no model,
no pydantic, no JSON work. Keys carry the user's cache generation, which every event of the
user bumps, so a user's own events make their cached lists unreachable (read-your-writes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass

from lambdarec_contracts import redis_keys

from .cache import LocalCache, jittered
from .metrics import Metrics
from .pipeline.context import RecParams
from .schemas import RecommendationResponse
from .store import Store, StoreUnavailable

FORMAT = "v2"  # bumped when the stored bytes change shape (old entries become unreachable)
_TAIL = b',"cached":false,"request_id":""}'


@dataclass
class ServedList:
    """A serialised response minus its per-request tail, and what metrics and impressions need."""

    prefix: bytes
    items: tuple[dict[str, str], ...]  # [{"item_id", "source"}] in served order
    ild: float | None = None  # intra-list diversity, computed once when first served
    _sources: tuple[tuple[str, int], ...] | None = None

    def sources(self) -> tuple[tuple[str, int], ...]:
        """(source, items) of the list, counted once: a cache hit counts by them again."""
        if self._sources is None:
            self._sources = tuple(Counter(it["source"] for it in self.items).items())
        return self._sources

    def body(self, cached: bool, request_id: str) -> bytes:
        flag = b"true" if cached else b"false"
        return b"".join((self.prefix, b',"cached":', flag, b',"request_id":"', request_id.encode(), b'"}'))


def serve_list(response: RecommendationResponse) -> ServedList:
    """Serialise ``response`` (built with cached=False, request_id="") once; those two fields are
    replaced per request."""
    raw = response.model_dump_json().encode()
    if not raw.endswith(_TAIL):  # the schema's last two fields must stay cached, request_id
        raise RuntimeError("RecommendationResponse must end with cached, request_id")
    items = tuple({"item_id": it.item_id, "source": it.source} for it in response.items)
    return ServedList(raw[: -len(_TAIL)], items)


def _from_bytes(prefix: bytes) -> ServedList:
    doc = json.loads(prefix + _TAIL)  # only on a Redis hit that the local cache did not have
    return ServedList(
        prefix, tuple({"item_id": it["item_id"], "source": it["source"]} for it in doc["items"])
    )


class ResponseCache:
    """In-process LRU+TTL in front of Redis ``rec_cache`` keys (TTL +-10 %).

    The in-process entry is keyed without the generation and remembers it, so a hit costs one
    ``GET`` of the user's generation (read-your-writes) and no other store work; Redis keys
    carry the generation.
    """

    def __init__(self, store: Store, metrics: Metrics, size: int, local_ttl_s: float, ttl_s: float) -> None:
        self.store = store
        self.metrics = metrics
        self.local = LocalCache(size, local_ttl_s)
        self.ttl_s = ttl_s
        self._params_json: dict[RecParams, str] = {}
        self._writes: set[asyncio.Task[None]] = set()

    @staticmethod
    def _params(p: RecParams) -> list[object]:
        """Every request parameter (a new RecParams field is part of the key without an edit here)."""
        return [
            sorted(v) if isinstance(v, frozenset | set) else list(v) if isinstance(v, tuple) else v
            for v in (getattr(p, f.name) for f in dataclasses.fields(p))
        ]

    @staticmethod
    def local_key(user_id: str, variant: str, bundle_version: str, p: RecParams) -> tuple[object, ...]:
        return (variant, user_id, bundle_version, p)  # RecParams is frozen: hashable, no encoding

    def key(self, user_id: str, variant: str, bundle_version: str, generation: int, p: RecParams) -> str:
        """The Redis key ("" when Redis caching is off: nothing reads it)."""
        if self.ttl_s <= 0:
            return ""
        params = self._params_json.get(p)
        if params is None:  # the parameters' JSON once per distinct RecParams (bounded)
            if len(self._params_json) >= 1024:
                self._params_json.clear()
            params = self._params_json[p] = json.dumps(self._params(p))
        # Exactly json.dumps([FORMAT, bundle_version, generation, *params]): keys are unchanged.
        head = json.dumps([FORMAT, bundle_version, generation])
        text = head if params == "[]" else f"{head[:-1]}, {params[1:]}"
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return redis_keys.rec_cache(variant, user_id, digest)

    def peek(self, local_key: tuple[object, ...]) -> tuple[int, ServedList] | None:
        """The in-process entry and the generation it was computed at (not counted)."""
        return self.local.get(local_key)  # type: ignore[no-any-return]

    def count_local(self, hit: bool) -> None:
        self.metrics.child(self.metrics.cache, "local", "hit" if hit else "miss").inc()

    def get(self, local_key: tuple[object, ...], key: str | None, generation: int) -> ServedList | None:
        """After an in-process miss: the Redis entry (kept in-process from then on)."""
        if self.ttl_s <= 0 or not key:
            return None
        try:
            raw: bytes | None = self.store.commands(lambda p: p.get(key))[0]
        except StoreUnavailable:
            return None
        return self._got(local_key, raw, generation)

    async def get_async(
        self, local_key: tuple[object, ...], key: str | None, generation: int
    ) -> ServedList | None:
        """``get`` with the round trip awaited on the event loop."""
        if self.ttl_s <= 0 or not key:
            return None
        try:
            raw = (await self.store.commands_async(lambda p: p.get(key)))[0]
        except StoreUnavailable:
            return None
        return self._got(local_key, raw, generation)

    def _got(self, local_key: tuple[object, ...], raw: bytes | None, generation: int) -> ServedList | None:
        self.metrics.child(self.metrics.cache, "redis", "hit" if raw else "miss").inc()
        if not raw:
            return None
        served = _from_bytes(raw)
        self.local.set(local_key, (generation, served))
        return served

    def set(self, local_key: tuple[object, ...], key: str, generation: int, served: ServedList) -> None:
        """In-process now; the Redis write (best effort) after the response when on the event loop."""
        self.local.set(local_key, (generation, served))
        if self.ttl_s <= 0:
            return
        ttl_ms = max(1, int(jittered(self.ttl_s) * 1000))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a thread-pool request: write now
            with suppress(StoreUnavailable):  # caching is best effort
                self.store.commands(lambda p: p.set(key, served.prefix, px=ttl_ms))
            return
        task = loop.create_task(self._write(key, served.prefix, ttl_ms))
        self._writes.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._writes.discard)

    async def _write(self, key: str, value: bytes, ttl_ms: int) -> None:
        with suppress(StoreUnavailable):  # caching is best effort
            await self.store.commands_async(lambda p: p.set(key, value, px=ttl_ms))
