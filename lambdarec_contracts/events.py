"""The event contract between the application, the serving API and the speed layer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, field_validator

EventType = Literal["view", "click", "rating", "like", "not_interested"]
ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
MAX_EVENTS_PER_BATCH = 500

# --- Event semantics: the one definition every layer applies (dbt's vars are tested against it) ---
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# A rating at or above this value is positive.
POSITIVE_RATING = 4.0
# Implicit events that always count as positive (and as a click on an impression, for A/B reports).
POSITIVE_EVENT_TYPES: tuple[str, ...] = ("like", "click")
# Negative feedback: feeds only the user's not-interested set (never trending nor the seen-set).
NEGATIVE_EVENT_TYPES: tuple[str, ...] = ("not_interested",)

EventSign = Literal["pos", "neg", "other"]


def is_positive(event_type: str, value: float | None) -> bool:
    """A like/click, or a rating >= POSITIVE_RATING."""
    return event_type in POSITIVE_EVENT_TYPES or (
        event_type == "rating" and value is not None and value >= POSITIVE_RATING
    )


def event_sign(event_type: str, value: float | None) -> EventSign:
    """``neg`` (not interested), ``pos`` (positive) or ``other`` (e.g. a view, a low rating)."""
    if event_type in NEGATIVE_EVENT_TYPES:
        return "neg"
    return "pos" if is_positive(event_type, value) else "other"


def _as_utc(ts: datetime) -> datetime:
    """Aware UTC; naive is taken as UTC. ``ValueError`` (never OverflowError) when not representable."""
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    try:
        return ts.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+05:00 is before datetime.min in UTC
        raise ValueError(f"timestamp {ts.isoformat()} is out of range in UTC") from exc


class Event(BaseModel):
    """One user event, as posted to ``POST /v1/events`` and carried on the stream."""

    event_id: str = Field(pattern=ID_PATTERN)
    user_id: str = Field(pattern=ID_PATTERN)
    item_id: str = Field(pattern=ID_PATTERN)
    type: EventType
    value: float | None = Field(default=None, ge=0.0, le=10.0)
    ts: datetime

    @field_validator("ts")
    @classmethod
    def _utc_ts(cls, v: datetime) -> datetime:
        return _as_utc(v)


class Impression(BaseModel):
    """One served item, logged to the same stream (``kind=impression``)."""

    request_id: str
    user_id: str
    item_id: str
    position: int
    model_version: str
    variant: str
    experiment: str | None = None
    source: str
    ts: datetime


# Field ``kind`` on each stream entry tells events and impressions apart (events and impressions
# travel on separate streams, redis_keys.EVENTS_STREAM and IMPRESSIONS_STREAM).
STREAM_KIND_EVENT = "event"
STREAM_KIND_IMPRESSION = "impression"


# --- Stream entry encoding (shared by serving, which appends, and the speed layer, which reads) ---
# Every entry is a flat map of strings. Events:
#   kind=event, event_id, user_id, item_id, type, value ("" when None, else repr(float)), ts,
#   item_known ("1"/"0": was the item in the served catalogue; "" or absent: unknown, e.g. no bundle)
# Impressions:
#   kind=impression, request_id, user_id, item_id, position (int as str), model_version,
#   variant, experiment ("" when None), source, ts
# ts is ISO-8601 in UTC with an explicit offset ("2026-01-02T03:04:05.123456+00:00");
# a naive datetime is taken to be UTC.


def _utc_iso(ts: datetime) -> str:
    return _as_utc(ts).isoformat(timespec="microseconds")


def event_to_stream_fields(event: Event, item_known: bool | None = None) -> dict[str, str]:
    """Encode one event as the flat string fields of a stream entry (``kind=event``)."""
    return {
        "kind": STREAM_KIND_EVENT,
        "event_id": event.event_id,
        "user_id": event.user_id,
        "item_id": event.item_id,
        "type": event.type,
        "value": "" if event.value is None else repr(float(event.value)),
        "ts": _utc_iso(event.ts),
        "item_known": "" if item_known is None else ("1" if item_known else "0"),
    }


def impression_to_stream_fields(impression: Impression) -> dict[str, str]:
    """Encode one impression as the flat string fields of a stream entry (``kind=impression``)."""
    return {
        "kind": STREAM_KIND_IMPRESSION,
        "request_id": impression.request_id,
        "user_id": impression.user_id,
        "item_id": impression.item_id,
        "position": str(int(impression.position)),
        "model_version": impression.model_version,
        "variant": impression.variant,
        "experiment": impression.experiment or "",
        "source": impression.source,
        "ts": _utc_iso(impression.ts),
    }


def _decode(v: str | bytes) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else v


def stream_fields_to_record(fields: Mapping[str | bytes, str | bytes]) -> dict[str, Any]:
    """Decode and validate one stream entry; raises ``ValueError`` on a bad entry.

    Returns ``{"kind": "event", **Event fields, "item_known": bool | None}`` or
    ``{"kind": "impression", **Impression fields}`` with ``ts`` as a timezone-aware UTC datetime.
    """
    f = {_decode(k): _decode(v) for k, v in fields.items()}
    kind = f.pop("kind", None)
    extra: dict[str, Any] = {}
    if kind == STREAM_KIND_EVENT:
        value = f.get("value", "")
        known = f.pop("item_known", "")
        extra["item_known"] = None if known == "" else known == "1"
        model: BaseModel = Event.model_validate({**f, "value": None if value == "" else value})
    elif kind == STREAM_KIND_IMPRESSION:
        model = Impression.model_validate({**f, "experiment": f.get("experiment") or None})
    else:
        raise ValueError(f"unknown stream entry kind {kind!r}")
    record = model.model_dump()
    record["ts"] = _as_utc(record["ts"])
    return {"kind": kind, **record, **extra}
