"""Thin Redis Streams shell: consumer group, reads, claims, acks, safe trimming, dead letters, lag.

The worker reads two streams (``rk.STREAMS``: events and impressions) as one consumer group.
Nobody appends with MAXLEN; the worker trims each stream itself, and only below the oldest
entry its group has not acknowledged, so trimming can never drop unprocessed entries.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from lambdarec_contracts import redis_keys as rk

from .records import DeadLetter, stream_id_key

Entries = list[tuple[Any, Any]]
DEAD_LETTER_MAXLEN = 100_000


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def ensure_group(client: redis.Redis, stream: str = rk.EVENTS_STREAM, group: str = rk.EVENTS_GROUP) -> None:
    """Create the consumer group (and the stream) if missing; new groups start at the beginning."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def ensure_groups(client: redis.Redis, streams: tuple[str, ...] = rk.STREAMS) -> None:
    for s in streams:
        ensure_group(client, s)


def is_nogroup(exc: BaseException) -> bool:
    """The group (or its stream) is gone: Redis restarted without its data, or someone deleted it."""
    return isinstance(exc, redis.ResponseError) and str(exc).startswith("NOGROUP")


def read_own_pending(
    client: redis.Redis, consumer: str, count: int, streams: tuple[str, ...] = rk.STREAMS
) -> dict[str, Entries]:
    """Entries delivered to this consumer name earlier but never acked (it crashed), per stream."""
    reply = client.xreadgroup(rk.EVENTS_GROUP, consumer, dict.fromkeys(streams, "0"), count=count)
    return _by_stream(reply)


def read_new(
    client: redis.Redis,
    consumer: str,
    count: int,
    block_ms: int | None,
    streams: tuple[str, ...] = rk.STREAMS,
) -> dict[str, Entries]:
    reply = client.xreadgroup(
        rk.EVENTS_GROUP, consumer, dict.fromkeys(streams, ">"), count=count, block=block_ms
    )
    return _by_stream(reply)


def _by_stream(reply: Any) -> dict[str, Entries]:
    if not reply:
        return {}
    # redis-py: [[stream, [(id, fields), ...]], ...] (RESP2) or {stream: [[...]]} (RESP3)
    if isinstance(reply, dict):
        pairs = [(k, v[0] if v and isinstance(v[0], list) else v) for k, v in reply.items()]
    else:
        pairs = [(k, v) for k, v in reply]
    return {_s(k): list(v) for k, v in pairs if v}


def autoclaim(
    client: redis.Redis,
    consumer: str,
    min_idle_ms: int,
    count: int,
    cursor: str,
    stream: str = rk.EVENTS_STREAM,
) -> tuple[str, Entries]:
    """Take over entries other (dead) consumers left pending longer than ``min_idle_ms``.

    Entries whose payload is gone come back as ``(id, None)``: they are counted as lost and acked.
    """
    reply = client.xautoclaim(
        stream, rk.EVENTS_GROUP, consumer, min_idle_time=min_idle_ms, start_id=cursor, count=count
    )
    next_cursor, claimed = _s(reply[0]), list(reply[1])
    deleted = [(d, None) for d in (reply[2] if len(reply) > 2 else [])]
    return next_cursor, [e for e in claimed if e is not None] + deleted


def ack(client: redis.Redis, ids: list[str], stream: str = rk.EVENTS_STREAM) -> int:
    if not ids:
        return 0
    return int(client.xack(stream, rk.EVENTS_GROUP, *ids))


def dead_letter(client: redis.Redis, letters: list[DeadLetter]) -> None:
    """Park unparsable entries (with the reason) on the dead-letter stream."""
    if not letters:
        return
    pipe = client.pipeline(transaction=False)
    for d in letters:
        pipe.xadd(
            rk.EVENTS_DEAD_LETTER_STREAM,
            {"stream_id": d.stream_id, "reason": d.reason, "fields": json.dumps(d.fields, sort_keys=True)},
            maxlen=DEAD_LETTER_MAXLEN,
            approximate=True,
        )
    pipe.execute()


def safe_trim_id(client: redis.Redis, stream: str) -> str | None:
    """The lowest id any consumer group of ``stream`` still needs (None: trim nothing).

    Per group: its oldest pending (delivered, unacked) entry, else its last delivered entry
    (everything after it is unread). With no group at all nothing is known to be processed.
    """
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:  # no such stream
        return None
    if not groups:
        return None
    floor: tuple[int, int] | None = None
    for g in groups:
        g = {_s(k): v for k, v in g.items()}
        need = _s(g["last-delivered-id"])
        if int(g["pending"]):
            summary = client.xpending(stream, _s(g["name"]))
            need = min(need, _s(summary["min"]), key=stream_id_key)
        key = stream_id_key(need)
        floor = key if floor is None or key < floor else floor
    assert floor is not None
    return f"{floor[0]}-{floor[1]}"


def trim_processed(client: redis.Redis, stream: str, retain_s: float, now_ms: int | None = None) -> int:
    """Drop entries every group has processed and that are older than ``retain_s``; returns count.

    MINID with ``~`` removes only whole radix-tree nodes entirely below the id, never beyond it.
    """
    safe = safe_trim_id(client, stream)
    if safe is None:
        return 0
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    keep_from = min(stream_id_key(safe), (max(0, now_ms - int(retain_s * 1000)), 0))
    return int(client.xtrim(stream, minid=f"{keep_from[0]}-{keep_from[1]}", approximate=True))


@dataclass
class GroupState:
    """Consumer-group progress: what was delivered, what is still unacked, what is unread."""

    exists: bool
    last_delivered_id: str = "0-0"
    pending: int = 0
    lag: int | None = None  # entries never delivered (None when Redis cannot tell)


def group_state(client: redis.Redis, stream: str = rk.EVENTS_STREAM) -> GroupState:
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:  # no such stream
        return GroupState(exists=False)
    for g in groups:
        g = {_s(k): v for k, v in g.items()}
        if _s(g["name"]) == rk.EVENTS_GROUP:
            lag = g.get("lag")
            return GroupState(
                exists=True,
                last_delivered_id=_s(g["last-delivered-id"]),
                pending=int(g["pending"]),
                lag=None if lag is None else int(lag),
            )
    return GroupState(exists=False)


@dataclass
class Backlog:
    """Entries appended before a cutoff that the worker has not finished (read or acked)."""

    undelivered: int
    pending: int
    oldest_pending_id: str | None
    pending_consumers: list[str]
    group_exists: bool
    stream: str = rk.EVENTS_STREAM

    @property
    def clear(self) -> bool:
        return self.undelivered == 0 and self.pending == 0


def backlog_before(
    client: redis.Redis, cutoff_ms: int, scan_limit: int = 100_000, stream: str = rk.EVENTS_STREAM
) -> Backlog:
    """How much of ``stream`` appended before ``cutoff_ms`` is not yet processed and acked."""
    last_before = "-" if cutoff_ms <= 0 else f"{cutoff_ms - 1}"  # incomplete end id = max seq of that ms
    state = group_state(client, stream)
    if not state.exists:
        newest = client.xrevrange(stream, max=last_before, min="-", count=1) if cutoff_ms > 0 else []
        n = len(client.xrange(stream, min="-", max=last_before, count=scan_limit)) if newest else 0
        return Backlog(
            undelivered=n, pending=0, oldest_pending_id=None, pending_consumers=[], group_exists=False,
            stream=stream,
        )  # fmt: skip
    undelivered = 0
    if stream_id_key(state.last_delivered_id) < (cutoff_ms, 0):
        unread = client.xrange(stream, min=f"({state.last_delivered_id}", max=last_before, count=scan_limit)
        undelivered = len(unread)
    pending_rows = client.xpending_range(stream, rk.EVENTS_GROUP, min="-", max=last_before, count=scan_limit)
    consumers = sorted({_s(p["consumer"]) for p in pending_rows})
    oldest = _s(pending_rows[0]["message_id"]) if pending_rows else None
    return Backlog(undelivered, len(pending_rows), oldest, consumers, group_exists=True, stream=stream)
