"""Thin Redis Streams shell: consumer group, reads, claims, acks, dead letters, lag."""

from __future__ import annotations

import json
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


def read_own_pending(client: redis.Redis, consumer: str, count: int) -> Entries:
    """Entries delivered to this consumer name earlier but never acked (it crashed)."""
    return _entries(client.xreadgroup(rk.EVENTS_GROUP, consumer, {rk.EVENTS_STREAM: "0"}, count=count))


def read_new(client: redis.Redis, consumer: str, count: int, block_ms: int | None) -> Entries:
    return _entries(
        client.xreadgroup(rk.EVENTS_GROUP, consumer, {rk.EVENTS_STREAM: ">"}, count=count, block=block_ms)
    )


def _entries(reply: Any) -> Entries:
    if not reply:
        return []
    # redis-py: [[stream, [(id, fields), ...]]] (RESP2) or {stream: [[...]]} (RESP3)
    if isinstance(reply, dict):
        return [e for v in reply.values() for e in (v[0] if v and isinstance(v[0], list) else v)]
    return [e for _, entries in reply for e in entries]


def autoclaim(
    client: redis.Redis, consumer: str, min_idle_ms: int, count: int, cursor: str
) -> tuple[str, Entries]:
    """Take over entries other (dead) consumers left pending longer than ``min_idle_ms``.

    Entries whose payload was trimmed come back as ``(id, None)`` so they still get acked.
    """
    reply = client.xautoclaim(
        rk.EVENTS_STREAM, rk.EVENTS_GROUP, consumer, min_idle_time=min_idle_ms, start_id=cursor, count=count
    )
    next_cursor, claimed = _s(reply[0]), list(reply[1])
    deleted = [(d, None) for d in (reply[2] if len(reply) > 2 else [])]
    return next_cursor, [e for e in claimed if e is not None] + deleted


def ack(client: redis.Redis, ids: list[str]) -> int:
    if not ids:
        return 0
    return int(client.xack(rk.EVENTS_STREAM, rk.EVENTS_GROUP, *ids))


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


@dataclass
class GroupState:
    """Consumer-group progress: what was delivered, what is still unacked, what is unread."""

    exists: bool
    last_delivered_id: str = "0-0"
    pending: int = 0
    lag: int | None = None  # entries never delivered (None when Redis cannot tell)


def group_state(client: redis.Redis) -> GroupState:
    try:
        groups = client.xinfo_groups(rk.EVENTS_STREAM)
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

    @property
    def clear(self) -> bool:
        return self.undelivered == 0 and self.pending == 0


def backlog_before(client: redis.Redis, cutoff_ms: int, scan_limit: int = 100_000) -> Backlog:
    """How much of the stream appended before ``cutoff_ms`` is not yet processed and acked."""
    last_before = "-" if cutoff_ms <= 0 else f"{cutoff_ms - 1}"  # incomplete end id = max seq of that ms
    state = group_state(client)
    if not state.exists:
        newest = (
            client.xrevrange(rk.EVENTS_STREAM, max=last_before, min="-", count=1) if cutoff_ms > 0 else []
        )
        n = len(client.xrange(rk.EVENTS_STREAM, min="-", max=last_before, count=scan_limit)) if newest else 0
        return Backlog(
            undelivered=n, pending=0, oldest_pending_id=None, pending_consumers=[], group_exists=False
        )
    undelivered = 0
    if stream_id_key(state.last_delivered_id) < (cutoff_ms, 0):
        unread = client.xrange(
            rk.EVENTS_STREAM, min=f"({state.last_delivered_id}", max=last_before, count=scan_limit
        )
        undelivered = len(unread)
    pending_rows = client.xpending_range(
        rk.EVENTS_STREAM, rk.EVENTS_GROUP, min="-", max=last_before, count=scan_limit
    )
    consumers = sorted({_s(p["consumer"]) for p in pending_rows})
    oldest = _s(pending_rows[0]["message_id"]) if pending_rows else None
    return Backlog(undelivered, len(pending_rows), oldest, consumers, group_exists=True)
