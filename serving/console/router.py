"""``/console`` (the static page) and ``/v1/admin/console/*`` (its JSON, admin key only).

The page itself holds no data and no secret, so it is served without a key: it asks for the
admin key once, keeps it in the tab's ``sessionStorage`` and sends it as ``X-API-Key`` on every
fetch (no cookie, so no CSRF surface; never in a URL, so never in access logs). Everything the
page shows comes from the admin routes below, or from the admin-keyed recommendation, why-not
and forget endpoints.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from lambdarec_contracts.events import ID_PATTERN, Event

from ..deps import KEY_RESPONSES, AdminKeyDep, EventServiceDep, RecommenderDep, SettingsDep, SimilarDep
from ..events import EventRejected
from ..schemas import EventsAccepted, Problem
from ..store import StoreUnavailable
from . import inspect, overview, pipelines

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
# Only this origin's own script and style; images from this origin or the blob: URLs of plots.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

pages = APIRouter(include_in_schema=False)
api = APIRouter(
    prefix="/v1/admin/console", tags=["console"], dependencies=[AdminKeyDep], responses=KEY_RESPONSES
)
ItemId = Annotated[str, PathParam(pattern=ID_PATTERN)]
UserId = Annotated[str, PathParam(pattern=ID_PATTERN)]


@pages.get("/console")
def console_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_PAGE_HEADERS)


@pages.get("/console/static/{name}")
def console_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, "no such console file")
    return FileResponse(STATIC_DIR / name, media_type=ASSETS[name], headers=_PAGE_HEADERS)


@api.get("/overview")
async def console_overview(recommender: RecommenderDep) -> dict[str, Any]:
    """Bundle and its evaluation, freshness, streams, Redis, cache, latency, experiments."""
    return await run_in_threadpool(overview.overview, recommender)


@api.get("/plots/{name}", responses={404: {"model": Problem}})
def console_plot(recommender: RecommenderDep, name: str) -> FileResponse:
    """A PNG plot of the current bundle's evaluation report."""
    path = overview.plot_path(recommender.holder.current, name)
    if path is None:
        raise HTTPException(404, f"no plot {name!r} in the current bundle")
    return FileResponse(path, media_type="image/png")


@api.get("/users/{user_id}")
async def console_user(recommender: RecommenderDep, user_id: UserId) -> dict[str, Any]:
    """The user's stored state: batch history, seen / not-interested sets, recent items, features."""
    return await run_in_threadpool(inspect.user_view, recommender, user_id)


class ConsoleEvent(BaseModel):
    item_id: str = Field(pattern=ID_PATTERN)
    type: Literal["like", "not_interested", "click", "view"]


@api.post(
    "/users/{user_id}/events",
    status_code=202,
    response_model=EventsAccepted,
    responses={422: {"model": Problem}, 503: {"model": Problem}},
)
def console_event(body: ConsoleEvent, user_id: UserId, events: EventServiceDep) -> EventsAccepted:
    """Post one event for the user as ``POST /v1/events`` would (same path, read-your-writes).

    The console holds the admin key, which never opens ``POST /v1/events`` (that is the
    application's write key): this route lets an operator act as the user without that key.
    """
    event = Event(
        event_id=f"console-{uuid.uuid4().hex}",
        user_id=user_id,
        item_id=body.item_id,
        type=body.type,
        ts=datetime.now(UTC),
    )
    try:
        accepted, duplicates = events.ingest([event])
    except EventRejected as e:
        raise HTTPException(422, f"invalid request: {e}") from e
    except StoreUnavailable as e:
        raise HTTPException(503, "event store unavailable, retry later") from e
    return EventsAccepted(accepted=accepted, duplicates=duplicates)


@api.get("/items/{item_id}", responses={404: {"model": Problem}})
async def console_item(recommender: RecommenderDep, similar: SimilarDep, item_id: ItemId) -> dict[str, Any]:
    """Metadata, popularity, batch features, similar items and who it was recently served to."""
    view = await run_in_threadpool(inspect.item_view, recommender, similar, item_id)
    if view is None:
        raise HTTPException(404, f"item {item_id!r} is not in the served bundle")
    return view


@api.get("/pipelines")
async def console_pipelines(settings: SettingsDep) -> dict[str, Any]:
    """The DAGs' last runs (Airflow REST API, when reachable) and the bundles with their gate decisions."""
    airflow = await run_in_threadpool(pipelines.airflow_runs, settings)
    return {"airflow": airflow, **await run_in_threadpool(pipelines.bundles, settings)}
