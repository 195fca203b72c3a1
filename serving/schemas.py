"""Request and response models of the API (pydantic, shown in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

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


class TraceGeneratorItem(BaseModel):
    item_id: str
    rank: int = Field(description="1-based rank in the generator's list")
    score: float | None


class TraceScoredItem(BaseModel):
    item_id: str
    score: float | None = Field(description="the value model's score, before boosts")
    heads: dict[str, float | None] = Field(description="the ranker's heads (empty: the generators' order)")
    features: dict[str, float | None] = Field(description="the ranker's inputs for this candidate")
    sources: list[str] = Field(description="generators that proposed the item")


class TraceBoost(BaseModel):
    item_id: str
    boost: float | None


class TraceMove(BaseModel):
    item_id: str
    from_position: int = Field(description="1-based position before the step")
    to_position: int = Field(description="1-based position after the step")


class TraceFinalItem(BaseModel):
    item_id: str
    position: int = Field(description="1-based position in the served order (offset included)")
    score: float | None


class RecommendationTrace(BaseModel):
    """Every stage's view of one request, from the same code path as a normal request."""

    generators: dict[str, list[TraceGeneratorItem]]
    filters: dict[str, list[str]] = Field(description="rule -> the candidates it removed (first rule wins)")
    scored: list[TraceScoredItem] = Field(description="every candidate that passed the filters, by score")
    boosts: list[TraceBoost]
    diversity: list[TraceMove]
    exploration: list[TraceMove]
    final: list[TraceFinalItem]
    timings_ms: dict[str, float]
    degraded: list[str]


class ExplainedRecommendationResponse(RecommendationResponse):
    trace: RecommendationTrace | None = Field(default=None, description="only with explain=true (admin key)")


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


class WhyNotAnswer(BaseModel):
    """Why an item is or is not in the user's recommendations (one explained request)."""

    user_id: str
    item_id: str
    outcome: str = Field(
        description="served | never_retrieved | filtered | scored_too_low | diversity | exploration | unknown_item"
    )
    stage: str = Field(
        description="the pipeline stage that decided: catalogue | filter | retrieve | score | rank"
    )
    sentence: str = Field(description="one sentence for a person")
    evidence: dict[str, Any] = Field(description="the numbers behind the sentence (ranks, scores, the rule)")


class ForgetResult(BaseModel):
    user_id: str
    removed_keys: int = Field(description="Redis keys deleted by this call (0 when already forgotten)")
    tombstoned: bool = Field(description="the tombstone the next batch run honours is recorded")
