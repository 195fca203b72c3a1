"""FastAPI dependencies (``Annotated`` aliases used by the routers)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from .events import EventService
from .metrics import Metrics
from .recommender import Recommender
from .settings import ServingSettings
from .similar import SimilarItems


def get_settings(request: Request) -> ServingSettings:
    return request.app.state.settings


def get_recommender(request: Request) -> Recommender:
    return request.app.state.recommender


def get_similar(request: Request) -> SimilarItems:
    return request.app.state.similar


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def get_event_service(request: Request) -> EventService:
    return request.app.state.events


SettingsDep = Annotated[ServingSettings, Depends(get_settings)]
RecommenderDep = Annotated[Recommender, Depends(get_recommender)]
SimilarDep = Annotated[SimilarItems, Depends(get_similar)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
EventServiceDep = Annotated[EventService, Depends(get_event_service)]


def require_api_key(
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
) -> None:
    """Write and admin endpoints: 401 without a key, 403 with a wrong one (or none configured)."""
    if x_api_key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header")
    if settings.api_key is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "writes are disabled: LAMBDAREC_API_KEY is not set")
    if not secrets.compare_digest(x_api_key.encode(), settings.api_key.get_secret_value().encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid API key")


ApiKeyDep = Depends(require_api_key)
