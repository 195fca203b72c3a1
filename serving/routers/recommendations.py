"""GET /v1/recommendations/{user_id}"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from lambdarec_contracts.events import ID_PATTERN
from lambdarec_contracts.tables import GENRES

from ..deps import KEY_RESPONSES, ReadKeyDep, require_admin_key
from ..pipeline import RecParams
from ..recommender import Recommender
from ..schemas import ExplainedRecommendationResponse

router = APIRouter(
    prefix="/v1/recommendations", tags=["recommendations"], dependencies=[ReadKeyDep], responses=KEY_RESPONSES
)

_CSV_PATTERN = r"^[A-Za-z0-9_.:\-,]*$"
_GENRE_CSV_PATTERN = r"^[A-Za-z0-9_()' \-,]*$"


async def _require_admin_for_explain(request: Request) -> None:
    """explain=true shows features and scores of other items: the admin key only."""
    try:
        await require_admin_key(request.app.state.settings, request.headers.get("X-API-Key"))
    except HTTPException as e:
        raise HTTPException(e.status_code, f"explain=true needs the admin key (X-API-Key): {e.detail}") from e


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@router.get("/{user_id}", response_model=ExplainedRecommendationResponse)
async def recommend(
    request: Request,
    user_id: Annotated[str, Path(pattern=ID_PATTERN, description="any user id; unknown = cold start")],
    k: Annotated[int, Query(ge=1, le=100, description="items per page")] = 10,
    offset: Annotated[int, Query(ge=0, le=1000)] = 0,
    exclude: Annotated[
        str | None, Query(max_length=4000, pattern=_CSV_PATTERN, description="item ids, comma-separated")
    ] = None,
    genres: Annotated[
        str | None,
        Query(max_length=400, pattern=_GENRE_CSV_PATTERN, description="preferred genres, ranked first"),
    ] = None,
    exclude_genres: Annotated[str | None, Query(max_length=400, pattern=_GENRE_CSV_PATTERN)] = None,
    include_seen: Annotated[
        bool, Query(description="also serve items the user already interacted with (default: never)")
    ] = False,
    explain: Annotated[
        bool,
        Query(
            description="admin key only: add `trace`, every stage's view of this request "
            "(generators, filters, scores with heads and features, boosts, diversity and exploration "
            "moves, final positions, timings); computed fresh, never cached"
        ),
    ] = False,
) -> Response:
    """Top-k items for a user (cold start for unknown users), with sources and reasons."""
    recommender: Recommender = request.app.state.recommender  # not a dependency: hot path
    if explain:
        await _require_admin_for_explain(request)
    unknown = [g for g in _csv(genres) + _csv(exclude_genres) if g not in GENRES]
    if unknown:
        raise HTTPException(422, f"unknown genre(s): {', '.join(unknown)}; known: {', '.join(GENRES)}")
    params = RecParams(
        k=k,
        offset=offset,
        exclude=frozenset(_csv(exclude)),
        genres=tuple(_csv(genres)),
        exclude_genres=frozenset(_csv(exclude_genres)),
        include_seen=include_seen,
    )
    if explain:  # fresh, off the loop (the trace document of every candidate is built there too)
        doc = await run_in_threadpool(lambda: recommender.explain(user_id, params).document())
        return JSONResponse(doc)
    # Later requests with this query string are answered before FastAPI (fast_path.py).
    request.app.state.known_queries.remember(request.scope["query_string"], params)
    # On the event loop when possible (a cache hit; an uncached request that loads nothing in
    # bulk, its round trip awaited), else in a thread. Either way the body is already serialised (RecommendationResponse,
    # cached as bytes): FastAPI does no model work.
    body = await recommender.answer(user_id, params)
    if body is None:  # a pinned bundle or the item features may need loading: not on the loop
        body = await run_in_threadpool(recommender.recommend, user_id, params)
    return Response(content=body, media_type="application/json")
