"""Request and response models of the API (pydantic, shown in the OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from lambdarec_contracts.events import MAX_EVENTS_PER_BATCH, Event


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    source: str = Field(description="generator(s) that proposed the item, '+'-joined")
    reason: str = Field(description="a human sentence explaining the item")
    title: str | None = None


class RecommendationResponse(BaseModel):
    user_id: str
    items: list[RecommendedItem]
    model_version: str | None
    variant: str
    experiment: str | None = None
    degraded: bool
    degraded_reasons: list[str] = Field(default_factory=list)
    cached: bool
    request_id: str


class SimilarItemsResponse(BaseModel):
    item_id: str
    items: list[RecommendedItem]
    model_version: str | None
    degraded: bool
    request_id: str


class EventBatch(BaseModel):
    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class EventsAccepted(BaseModel):
    accepted: int
    duplicates: int


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    bundle_version: str | None
    redis: bool
    detail: str | None = None


class ReloadResult(BaseModel):
    swapped: bool
    bundle_version: str | None
    error: str | None = None


class Problem(BaseModel):
    """An error response: a readable message (validation errors add field-level ``errors``)."""

    detail: str
