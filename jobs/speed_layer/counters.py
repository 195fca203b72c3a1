"""Redis side effects of events, applied exactly once per event id (one Lua script per batch)."""

from __future__ import annotations

from typing import Any

import redis

from lambdarec_contracts import redis_keys as rk

from .records import event_sign, hour_bucket

# Per event: SET NX its event_applied marker; only when that succeeds (first application)
# bump the counters and lists. The script runs atomically, so a crash can never leave the
# marker set without the counters (or the reverse): a re-delivered event is a no-op.
# KEYS per event (6): applied, trending(bucket), user_activity(bucket), recent, seen, not_interested
# ARGV: dedup_ttl, trending_ttl, recent_len, then per event (3): item_id, user_id, sign
# sign: "pos" (positive: recent list too), "neg" (not interested), "other" (e.g. a view)
_APPLY_LUA = """
local dedup_ttl = tonumber(ARGV[1])
local trend_ttl = tonumber(ARGV[2])
local recent_len = tonumber(ARGV[3])
local applied = 0
for i = 0, (#KEYS / 6) - 1 do
  local k = i * 6
  local a = 3 + i * 3
  local item, user, sign = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  if redis.call('SET', KEYS[k + 1], '1', 'NX', 'EX', dedup_ttl) then
    applied = applied + 1
    redis.call('ZINCRBY', KEYS[k + 3], 1, user)
    redis.call('EXPIRE', KEYS[k + 3], trend_ttl)
    if sign == 'neg' then
      redis.call('SADD', KEYS[k + 6], item)
    else
      redis.call('ZINCRBY', KEYS[k + 2], 1, item)
      redis.call('EXPIRE', KEYS[k + 2], trend_ttl)
      redis.call('SADD', KEYS[k + 5], item)
      if sign == 'pos' then
        redis.call('LREM', KEYS[k + 4], 0, item)
        redis.call('LPUSH', KEYS[k + 4], item)
        redis.call('LTRIM', KEYS[k + 4], 0, recent_len - 1)
      end
    end
  end
end
return applied
"""

# Keep one script call bounded (it blocks Redis while it runs).
_CHUNK = 500


class CounterStore:
    """Applies events' counters, recent lists and seen-sets in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._script = client.register_script(_APPLY_LUA)

    def apply(self, events: list[dict[str, Any]]) -> int:
        """Apply each event's side effects once; returns how many were new (not re-deliveries)."""
        applied = 0
        for start in range(0, len(events), _CHUNK):
            keys: list[str] = []
            args: list[Any] = [rk.EVENT_DEDUP_TTL_S, rk.TRENDING_TTL_S, rk.RECENT_ITEMS_MAX_LEN]
            for e in events[start : start + _CHUNK]:
                bucket = hour_bucket(e["ts"])
                keys += [
                    rk.event_applied(e["event_id"]),
                    rk.trending(bucket),
                    rk.user_activity(bucket),
                    rk.recent_items(e["user_id"]),
                    rk.seen_items(e["user_id"]),
                    rk.not_interested(e["user_id"]),
                ]
                sign = event_sign(e)
                args += [e["item_id"], e["user_id"], sign]
            applied += int(self._script(keys=keys, args=args))
        return applied
