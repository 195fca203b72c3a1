"""POST /v1/events"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from ..deps import KEY_RESPONSES, ApiKeyDep, EventServiceDep
from ..events import EventRejected
from ..schemas import EventBatch, EventsAccepted, Problem
from ..store import StoreUnavailable

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsAccepted,
    dependencies=[ApiKeyDep],
    responses={
        **KEY_RESPONSES,
        400: {"model": Problem, "description": "the body is not JSON"},
        413: {"model": Problem, "description": "request body too large"},
        503: {"model": Problem, "description": "event store unavailable: nothing stored, retry"},
    },
)
def post_events(batch: EventBatch, events: EventServiceDep) -> EventsAccepted:
    """Accept a batch of events, idempotently by event_id; the user's next list reflects them.

    All or nothing per event: an event reported as a duplicate is on the stream; on 503 nothing
    new was stored and the same batch can be retried as is.
    """
    try:
        accepted, duplicates = events.ingest(batch.events)
    except EventRejected as e:
        events.metrics.events.labels(result="rejected").inc(len(batch.events))
        raise HTTPException(422, f"invalid request: {e}") from e
    except StoreUnavailable as e:
        events.metrics.events.labels(result="rejected").inc(len(batch.events))
        # Not accepted means not durable: the client must retry (idempotent by event_id).
        raise HTTPException(503, "event store unavailable, retry later") from e
    return EventsAccepted(accepted=accepted, duplicates=duplicates)
