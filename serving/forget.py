"""Forgetting a user (``DELETE /v1/users/{id}``): every online trace removed, a tombstone for the batch.

The durable tombstone comes first: one CSV under ``landing/tombstones/`` (TOMBSTONE_COLUMNS),
which dbt reads on the next batch run to drop the user's interactions up to ``deleted_at`` from
the marts, so features, histories and the next training set no longer hold them. Then Redis,
in one pipeline: seen and not-interested sets, the recent list, the batch history, the user's
Feast hash (batch and real-time views share it), cached lists (found by SCAN), the user's
member in the hourly activity buckets; the user joins the ``TOMBSTONES`` set. Trending counters
stay: they are aggregates.

Caches in every process: the user's cache generation is bumped, so every in-memory entry of the
user (each remembers the generation it was computed at) is stale at once, then the generation
key expires once the longest in-memory entry has (local TTL + jitter), leaving no key behind.

Idempotent: a second call removes nothing more and records a second tombstone. Events posted
after the deletion are accepted: the user comes back as a new user (dbt keeps events later
than the tombstone).
"""

from __future__ import annotations

import math
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from lambdarec_contracts import redis_keys as rk
from lambdarec_contracts.features import FEAST_PROJECT, USER_JOIN_KEY

from .online_features import entity_redis_key
from .settings import ServingSettings
from .store import Store

_ACTIVITY_HOURS = rk.TRENDING_TTL_S // 3600 + 2  # every hourly bucket that can still exist


class Forgetter:
    def __init__(self, store: Store, settings: ServingSettings) -> None:
        self.store = store
        self.settings = settings

    def forget(self, user_id: str, now: datetime | None = None) -> int:
        """Tombstone ``user_id`` and remove its online state; returns how many keys were deleted.

        Raises OSError (the tombstone could not be written: nothing was removed) or
        StoreUnavailable (the tombstone is written; a retry finishes the job).
        """
        now = now or datetime.now(UTC)
        self.write_tombstone(user_id, now)
        return self._clear_online(user_id, now)

    def write_tombstone(self, user_id: str, now: datetime) -> None:
        d = self.settings.tombstones_dir
        d.mkdir(parents=True, exist_ok=True)
        name = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}.csv"
        tmp = d / f".{name}.tmp"  # not matched by dbt's *.csv glob until renamed
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"user_id,deleted_at\n{user_id},{now.astimezone(UTC).isoformat()}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, d / name)

    def _clear_online(self, user_id: str, now: datetime) -> int:
        keys: list[str | bytes] = [
            rk.seen_items(user_id),
            rk.not_interested(user_id),
            rk.recent_items(user_id),
            rk.user_history(user_id),
            entity_redis_key(USER_JOIN_KEY, user_id, FEAST_PROJECT),
        ]
        # Ids match ID_PATTERN (no glob characters). Keys of other users whose id ends with
        # ":<user_id>" match too: they are cache entries, recomputed on their next request.
        pattern = rk.rec_cache("*", user_id, "*")
        keys += self.store.run(lambda c: list(c.scan_iter(match=pattern, count=1000)))
        now_ms = int(now.timestamp() * 1000)
        hour = now_ms // 3_600_000
        local_ttl_ms = math.ceil((self.settings.local_cache_ttl_s * 1.1 + 1.0) * 1000)
        gen = rk.rec_cache_generation(user_id)

        def queue(p: Any) -> None:
            p.delete(*keys)
            for h in range(hour - _ACTIVITY_HOURS, hour + 2):
                p.zrem(rk.user_activity(h), user_id)
            p.incr(gen)
            p.pexpire(gen, local_ttl_ms)
            p.zadd(rk.TOMBSTONES, {user_id: now_ms})

        return int(self.store.pipeline(queue)[0])
