"""The event contract between the application, the serving API and the speed layer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

EventType = Literal["view", "click", "rating", "like", "not_interested"]
ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
MAX_EVENTS_PER_BATCH = 500


class Event(BaseModel):
    """One user event, as posted to ``POST /v1/events`` and carried on the stream."""

    event_id: str = Field(pattern=ID_PATTERN)
    user_id: str = Field(pattern=ID_PATTERN)
    item_id: str = Field(pattern=ID_PATTERN)
    type: EventType
    value: float | None = Field(default=None, ge=0.0, le=10.0)
    ts: datetime


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


# Field ``kind`` on each stream entry tells events and impressions apart.
STREAM_KIND_EVENT = "event"
STREAM_KIND_IMPRESSION = "impression"


# --- Stream entry encoding (shared by serving, which appends, and the speed layer, which reads) ---
# Every entry is a flat map of strings. Events:
#   kind=event, event_id, user_id, item_id, type, value ("" when None, else repr(float)), ts
# Impressions:
#   kind=impression, request_id, user_id, item_id, position (int as str), model_version,
#   variant, experiment ("" when None), source, ts
# ts is ISO-8601 in UTC with an explicit offset ("2026-01-02T03:04:05.123456+00:00");
# a naive datetime is taken to be UTC.


def _utc_iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def event_to_stream_fields(event: Event) -> dict[str, str]:
    """Encode one event as the flat string fields of a stream entry (``kind=event``)."""
    return {
        "kind": STREAM_KIND_EVENT,
        "event_id": event.event_id,
        "user_id": event.user_id,
        "item_id": event.item_id,
        "type": event.type,
        "value": "" if event.value is None else repr(float(event.value)),
        "ts": _utc_iso(event.ts),
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

    Returns ``{"kind": "event", **Event fields}`` or ``{"kind": "impression", **Impression fields}``
    with ``ts`` as a timezone-aware UTC datetime.
    """
    f = {_decode(k): _decode(v) for k, v in fields.items()}
    kind = f.pop("kind", None)
    if kind == STREAM_KIND_EVENT:
        value = f.get("value", "")
        model: BaseModel = Event.model_validate({**f, "value": None if value == "" else value})
    elif kind == STREAM_KIND_IMPRESSION:
        model = Impression.model_validate({**f, "experiment": f.get("experiment") or None})
    else:
        raise ValueError(f"unknown stream entry kind {kind!r}")
    record = model.model_dump()
    ts: datetime = record["ts"]
    record["ts"] = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return {"kind": kind, **record}
