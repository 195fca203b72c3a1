"""FastAPI dependencies (``Annotated`` aliases used by the routers) and the API-key checks."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, status
from pydantic import SecretStr

from .events import EventService
from .metrics import Metrics
from .recommender import Recommender
from .schemas import Problem
from .settings import ServingSettings
from .similar import SimilarItems


# Dependencies are ``async def`` although they do no I/O: FastAPI runs a plain ``def`` dependency
# in the thread pool, a thread hop per dependency per request for a dict lookup.
async def get_settings(request: Request) -> ServingSettings:
    return request.app.state.settings


async def get_recommender(request: Request) -> Recommender:
    return request.app.state.recommender


async def get_similar(request: Request) -> SimilarItems:
    return request.app.state.similar


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_event_service(request: Request) -> EventService:
    return request.app.state.events


SettingsDep = Annotated[ServingSettings, Depends(get_settings)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
SimilarDep = Annotated[SimilarItems, Depends(get_similar)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
EventServiceDep = Annotated[EventService, Depends(get_event_service)]
KeyHeader = Annotated[str | None, Header(alias="X-API-Key")]


def _matches(given: str, *keys: SecretStr | None) -> bool:
    # Compare against every configured key (constant time each), so timing tells nothing.
    hits = [secrets.compare_digest(given.encode(), k.get_secret_value().encode()) for k in keys if k]
    return any(hits)


def _check(given: str | None, what: str, env: str, *keys: SecretStr | None) -> None:
    """401 without a key, 403 with a wrong one or when none is configured."""
    if given is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header")
    if not any(keys):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{what} are disabled: {env} is not set")
    if not _matches(given, *keys):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid API key")


async def require_api_key(settings: SettingsDep, x_api_key: KeyHeader = None) -> None:
    """Writes (POST /v1/events): the write key."""
    _check(x_api_key, "writes", "LAMBDAREC_API_KEY", settings.api_key)


async def require_admin_key(settings: SettingsDep, x_api_key: KeyHeader = None) -> None:
    """/v1/admin/*: the admin key only (the write key a client app holds never opens them)."""
    _check(x_api_key, "admin endpoints", "LAMBDAREC_ADMIN_KEY", settings.admin_key)


async def require_read_key(request: Request, x_api_key: KeyHeader = None) -> None:
    """Reads: open unless LAMBDAREC_READ_KEY is set; then the read key (or the write or admin key:
    the console reads recommendations with the admin key)."""
    # Settings straight from the app, not through SettingsDep: a nested dependency costs a second
    # resolution on every read request, the hottest path of the API.
    check_read_key(request.app.state.settings, x_api_key)


def check_read_key(settings: ServingSettings, given: str | None) -> None:
    """The read-key rule of ``require_read_key`` (also applied by ``fast_path.FastPath``)."""
    if settings.read_key is None:
        return
    _check(given, "reads", "LAMBDAREC_READ_KEY", settings.read_key, settings.api_key, settings.admin_key)


# OpenAPI "responses" of routes behind a key check (the fuzz test holds the schema to them).
KEY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no X-API-Key header"},
    403: {"model": Problem, "description": "wrong key, or this kind of access is not configured"},
}

ApiKeyDep = Depends(require_api_key)
AdminKeyDep = Depends(require_admin_key)
ReadKeyDep = Depends(require_read_key)
