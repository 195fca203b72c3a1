"""Each user's full interaction history as the batch layer publishes it to Redis, and how it is read.

One Redis string per user (``redis_keys.user_history``): the distinct item ids the user ever
interacted with as of the batch run, joined by the ASCII unit separator (never part of an id),
sorted, so a re-run writes byte-identical values. Serving reads it in the request's one round
trip and unions it with the speed layer's seen set: no item the user interacted with is served.
"""

from __future__ import annotations

from collections.abc import Iterable

SEPARATOR = "\x1f"


def encode(item_ids: Iterable[str]) -> bytes:
    ids = sorted({str(i) for i in item_ids})
    bad = [i for i in ids if SEPARATOR in i or not i]
    if bad:
        raise ValueError(f"item ids cannot be empty or contain the unit separator: {bad[:3]}")
    return SEPARATOR.join(ids).encode()


def decode(raw: bytes | str | None) -> set[str]:
    if not raw:
        return set()
    text = raw.decode() if isinstance(raw, bytes) else raw
    return set(text.split(SEPARATOR))
