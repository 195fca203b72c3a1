"""POST /v1/events"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from ..deps import ApiKeyDep, EventServiceDep
from ..schemas import EventBatch, EventsAccepted
from ..store import StoreUnavailable

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=EventsAccepted, dependencies=[ApiKeyDep]
)
def post_events(batch: EventBatch, events: EventServiceDep) -> EventsAccepted:
    """Accept a batch of events, idempotently by event_id; the user's next list reflects them."""
    try:
        accepted, duplicates = events.ingest(batch.events)
    except StoreUnavailable as e:
        events.metrics.events.labels(result="rejected").inc(len(batch.events))
        # Not accepted means not durable: the client must retry (idempotent by event_id).
        raise HTTPException(503, f"event store unavailable, retry later: {e}") from e
    return EventsAccepted(accepted=accepted, duplicates=duplicates)
