"""Admin views of one user: GET /v1/users/{user_id}/why-not/{item_id}, DELETE /v1/users/{user_id}"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from lambdarec_contracts.events import ID_PATTERN

from ..deps import KEY_RESPONSES, AdminKeyDep, RecommenderDep
from ..forget import Forgetter
from ..pipeline import RecParams
from ..pipeline.whynot import why_not
from ..schemas import ForgetResult, Problem, WhyNotAnswer

router = APIRouter(prefix="/v1/users", tags=["users"], dependencies=[AdminKeyDep], responses=KEY_RESPONSES)

UserId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.get(
    "/{user_id}/why-not/{item_id}",
    response_model=WhyNotAnswer,
    responses={503: {"model": Problem, "description": "no model bundle is loaded"}},
)
async def why_not_item(
    recommender: RecommenderDep,
    user_id: UserId,
    item_id: Annotated[str, Path(pattern=ID_PATTERN)],
    k: Annotated[int, Query(ge=1, le=100, description="the page the item is judged against")] = 10,
) -> WhyNotAnswer:
    """Why the item is (not) on the user's first page of ``k``: served, never retrieved, filtered
    (which rule), scored too low (vs the cut-off), moved off by diversity or exploration, unknown."""
    explained = await run_in_threadpool(recommender.explain, user_id, RecParams(k=k))
    if explained.input is None or explained.result is None:
        raise HTTPException(503, "no model bundle is loaded: nothing to explain yet")
    a = why_not(explained.input, explained.result, explained.trace, item_id)
    return WhyNotAnswer(
        user_id=user_id,
        item_id=item_id,
        outcome=a.outcome,
        stage=a.stage,
        sentence=a.sentence,
        evidence=a.evidence,
    )


@router.delete(
    "/{user_id}",
    response_model=ForgetResult,
    responses={
        503: {"model": Problem, "description": "the tombstone or the store could not be written; retry"}
    },
)
async def forget_user(request: Request, user_id: UserId) -> ForgetResult:
    """Forget the user everywhere online and tombstone them for the next batch run (idempotent).

    Events posted for the user afterwards are accepted: the user comes back as a new user.
    """
    forgetter: Forgetter = request.app.state.forgetter
    try:
        removed = await run_in_threadpool(forgetter.forget, user_id)
    except OSError as e:
        raise HTTPException(503, "could not record the tombstone; nothing was removed, retry") from e
    return ForgetResult(user_id=user_id, removed_keys=removed, tombstoned=True)
