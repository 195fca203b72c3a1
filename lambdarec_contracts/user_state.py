"""The one writer of per-user state and of every event's Redis side effects: one Lua script.

Two callers run the same script, in two modes:

- ``ingest`` (serving, ``POST /v1/events``): per event, SET NX the accepted marker; only when it
  is new, XADD the event to the stream, update the user's state and bump the user's
  recommendation-cache generation. One script is atomic, so an event is reported as a duplicate
  only when an earlier call really put it on the stream (there is no window between the marker
  and the append for a crash, a timeout or a Redis error to fall into).
- ``apply`` (the speed-layer worker): per event, SET NX the applied marker; only when it is new,
  count user activity and trending (never negative events, never items serving did not find in
  its catalogue) and update the user's state, with the same function as ``ingest`` (so a
  re-delivered event changes nothing: scores are event times and ZADD keeps the greater one).

User state is bounded: seen / not-interested are ZSETs scored by event time (unix ms), cut to
the newest ``*_max`` members and to members younger than ``*_ttl_s``, and expire as a whole
after that long without events; the recent list is capped at ``RECENT_ITEMS_MAX_LEN``.

The script starts with a ``#!lua`` shebang without ``allow-oom``: Redis refuses the whole call
when it is out of memory (``-OOM``) instead of failing halfway through.

Redis is imported lazily: every environment imports the contracts, not every one has redis-py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from . import redis_keys as rk
from .events import Event, event_sign, event_to_stream_fields
from .settings import BaseLambdarecSettings

DAY_S = 24 * 3600
# One script call blocks Redis while it runs: callers send at most this many events per call.
MAX_EVENTS_PER_CALL = 500


class UserStateLimits(BaseLambdarecSettings):
    """Bounds of per-user state; serving and the worker read the same variables."""

    seen_items_max: int = Field(default=500, ge=1, le=100_000, alias="LAMBDAREC_SEEN_ITEMS_MAX")
    seen_items_ttl_s: int = Field(default=90 * DAY_S, ge=60, alias="LAMBDAREC_SEEN_ITEMS_TTL_S")
    not_interested_max: int = Field(default=500, ge=1, le=100_000, alias="LAMBDAREC_NOT_INTERESTED_MAX")
    not_interested_ttl_s: int = Field(default=365 * DAY_S, ge=60, alias="LAMBDAREC_NOT_INTERESTED_TTL_S")


# KEYS per event (6): marker, seen, not_interested, recent, then
#   ingest: stream, rec_cache_generation     apply: trending(bucket), user_activity(bucket)
# ARGV: mode, dedup_ttl, seen_max, seen_ttl, neg_max, neg_ttl, recent_max, trend_ttl, then per
#   event: user, item, sign (pos|neg|other), score (event time, unix ms), known ("1"|"0"|""),
#   n (number of stream field/value strings that follow; 0 in apply mode), field, value, ...
EVENTS_LUA = """#!lua
local mode = ARGV[1]
local dedup_ttl = tonumber(ARGV[2])
local seen_max, seen_ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local neg_max, neg_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local recent_max, trend_ttl = tonumber(ARGV[7]), tonumber(ARGV[8])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function bounded_add(key, item, score, max_n, ttl_s)
  if redis.call('TYPE', key)['ok'] == 'set' then
    -- the layout before bounded state: keep its members, as seen now
    local old = redis.call('SMEMBERS', key)
    redis.call('DEL', key)
    for _, m in ipairs(old) do redis.call('ZADD', key, now_ms, m) end
  end
  redis.call('ZADD', key, 'GT', score, item)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%d', now_ms - ttl_s * 1000))
  redis.call('ZREMRANGEBYRANK', key, 0, -(max_n + 1))
  redis.call('EXPIRE', key, ttl_s)
end

local function user_state(seen, neg, recent, item, sign, score)
  if sign == 'neg' then
    bounded_add(neg, item, score, neg_max, neg_ttl)
    return
  end
  bounded_add(seen, item, score, seen_max, seen_ttl)
  if sign == 'pos' then
    redis.call('LREM', recent, 0, item)
    redis.call('LPUSH', recent, item)
    redis.call('LTRIM', recent, 0, recent_max - 1)
    redis.call('EXPIRE', recent, seen_ttl)
  end
end

local out = {}
local a = 8
for i = 0, (#KEYS / 6) - 1 do
  local k = i * 6
  local user, item, sign, score, known = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local nf = tonumber(ARGV[a + 6])
  if redis.call('EXISTS', KEYS[k + 1]) == 0 then
    if mode == 'ingest' then
      -- The append comes first: if it fails, the script stops before this event's marker is
      -- set, so a retry is not taken for a duplicate (Redis does not roll back a script).
      local fields = {}
      for j = 1, nf do fields[j] = ARGV[a + 6 + j] end
      redis.call('XADD', KEYS[k + 5], '*', unpack(fields))
      redis.call('SET', KEYS[k + 1], '1', 'EX', dedup_ttl)
      pcall(function()
        redis.call('INCR', KEYS[k + 6])
        redis.call('EXPIRE', KEYS[k + 6], seen_ttl)
      end)
    else
      redis.call('SET', KEYS[k + 1], '1', 'EX', dedup_ttl)
      redis.call('ZINCRBY', KEYS[k + 6], 1, user)
      redis.call('EXPIRE', KEYS[k + 6], trend_ttl)
      if sign ~= 'neg' and known ~= '0' then
        redis.call('ZINCRBY', KEYS[k + 5], 1, item)
        redis.call('EXPIRE', KEYS[k + 5], trend_ttl)
      end
    end
    -- Derived, rebuildable state: a bad key here (e.g. of a foreign type) must not undo the event.
    pcall(user_state, KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], item, sign, score)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
  a = a + 6 + nf
end
return out
"""

Mode = Literal["ingest", "apply"]


def _hour_bucket(ts_ms: int) -> int:
    return ts_ms // 3_600_000


def _ms(ts: Any) -> int:
    return int(ts.timestamp() * 1000)


class EventWriter:
    """Runs ``EVENTS_LUA`` for serving (``ingest``) and the speed-layer worker (``apply``)."""

    def __init__(self, limits: UserStateLimits) -> None:
        self.limits = limits

    def _head(self, mode: Mode) -> list[Any]:
        lim = self.limits
        return [
            mode,
            rk.EVENT_DEDUP_TTL_S,
            lim.seen_items_max,
            lim.seen_items_ttl_s,
            lim.not_interested_max,
            lim.not_interested_ttl_s,
            rk.RECENT_ITEMS_MAX_LEN,
            rk.TRENDING_TTL_S,
        ]

    @staticmethod
    def _run(client: Any, keys: list[str], args: list[Any]) -> list[int]:
        # register_script only hashes the text; Script falls back from EVALSHA to EVAL by itself
        # (a restarted Redis has an empty script cache).
        return list(client.register_script(EVENTS_LUA)(keys=keys, args=args))

    def ingest(self, client: Any, events: Sequence[Event], item_known: Sequence[bool | None]) -> list[bool]:
        """Accept events (new ones go to the stream, atomically); per event: True if it was new."""
        if len(events) > MAX_EVENTS_PER_CALL:
            raise ValueError(f"at most {MAX_EVENTS_PER_CALL} events per call, got {len(events)}")
        keys: list[str] = []
        args = self._head("ingest")
        for e, known in zip(events, item_known, strict=True):
            keys += [
                rk.event_seen(e.event_id),
                rk.seen_items(e.user_id),
                rk.not_interested(e.user_id),
                rk.recent_items(e.user_id),
                rk.EVENTS_STREAM,
                rk.rec_cache_generation(e.user_id),
            ]
            fields = [x for kv in event_to_stream_fields(e, known).items() for x in kv]
            k = "" if known is None else ("1" if known else "0")
            args += [e.user_id, e.item_id, event_sign(e.type, e.value), _ms(e.ts), k, len(fields), *fields]
        return [bool(f) for f in self._run(client, keys, args)] if keys else []

    def apply(self, client: Any, records: Sequence[Mapping[str, Any]]) -> int:
        """Apply decoded stream events once each (by event id); returns how many were new."""
        applied = 0
        for start in range(0, len(records), MAX_EVENTS_PER_CALL):
            keys: list[str] = []
            args = self._head("apply")
            for r in records[start : start + MAX_EVENTS_PER_CALL]:
                ts_ms = _ms(r["ts"])
                bucket = _hour_bucket(ts_ms)
                keys += [
                    rk.event_applied(r["event_id"]),
                    rk.seen_items(r["user_id"]),
                    rk.not_interested(r["user_id"]),
                    rk.recent_items(r["user_id"]),
                    rk.trending(bucket),
                    rk.user_activity(bucket),
                ]
                known = r.get("item_known")
                k = "" if known is None else ("1" if known else "0")
                args += [r["user_id"], r["item_id"], event_sign(r["type"], r["value"]), ts_ms, k, 0]
            applied += sum(self._run(client, keys, args))
        return applied


def queue_filter_reads(pipe: Any, user_id: str, limits: UserStateLimits) -> None:
    """Queue the reads of the user's seen and not-interested items (newest first, bounded)."""
    pipe.zrevrange(rk.seen_items(user_id), 0, limits.seen_items_max - 1)
    pipe.zrevrange(rk.not_interested(user_id), 0, limits.not_interested_max - 1)
