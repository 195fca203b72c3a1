"""GET /healthz, /readyz, /metrics"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from ..deps import MetricsDep, RecommenderDep, SettingsDep
from ..schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is alive (no dependency checks)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(recommender: RecommenderDep) -> JSONResponse:
    """Ready when a bundle is loaded and Redis answers; 503 (with the reason) otherwise."""
    bundle = recommender.holder.current
    redis_ok = recommender.store.ping()
    problems = []
    if bundle is None:
        problems.append(recommender.holder.last_error or "no bundle loaded")
    if not redis_ok:
        problems.append("redis unreachable")
    body = Readiness(
        ready=not problems,
        bundle_version=bundle.version if bundle else None,
        redis=redis_ok,
        detail="; ".join(problems) or None,
    )
    return JSONResponse(body.model_dump(), status_code=200 if not problems else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(m: MetricsDep, settings: SettingsDep) -> Response:
    if not settings.metrics_on_api_port:  # scraped on LAMBDAREC_METRICS_PORT instead
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    return Response(m.exposition(), media_type=CONTENT_TYPE_LATEST)
