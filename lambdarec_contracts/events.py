"""The event contract between the application, the serving API and the speed layer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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
