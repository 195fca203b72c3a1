"""The FastAPI app factory: ``uvicorn serving.app:create_app --factory``."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .bundle import Bundle
from .events import EventService
from .experiments import load_experiments
from .feature_sync import ItemFeatureSync
from .holder import BundleHolder, Poller
from .metrics import Metrics
from .recommender import Recommender
from .routers import admin, events, health, items, recommendations
from .settings import ServingSettings
from .similar import SimilarItems
from .store import Store

log = logging.getLogger(__name__)


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    """Build the app; settings come from the environment unless given (tests)."""
    settings = settings or ServingSettings()
    metrics = Metrics()

    def on_swap(b: Bundle) -> None:
        metrics.set_bundle(b.version)
        metrics.bundle_loads.labels(result="ok").inc()

    def on_error(_: str) -> None:
        metrics.bundle_loads.labels(result="error").inc()

    store = Store(settings.redis_url, settings.redis_socket_timeout_s, settings.redis_backoff_s)
    holder = BundleHolder(settings.bundle_link, settings.hnsw_threshold, on_swap=on_swap, on_error=on_error)
    features = ItemFeatureSync(store, holder.loaded, settings.feature_fetch)
    holder.prepare = features.prepare  # a new bundle's item features are read before it is swapped in
    experiments = load_experiments(settings.experiments_file)
    event_service = EventService(store, metrics, experiments, settings.stream_maxlen)
    recommender = Recommender(settings, holder, store, metrics, experiments, event_service, features)
    poller = Poller([holder.refresh, features.refresh], settings.bundle_poll_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not holder.refresh():
            log.warning("starting without a bundle: %s", holder.last_error)
        poller.start()
        try:
            yield
        finally:
            poller.stop()
            store.close()

    app = FastAPI(
        title="lambdarec serving API",
        version="1.0.0",
        description="Recommendations, similar items and events for lambdarec.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.recommender = recommender
    app.state.similar = SimilarItems(holder)
    app.state.events = event_service

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        t = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", "unmatched")
        metrics.request_latency.labels(
            endpoint=endpoint, method=request.method, status=str(response.status_code)
        ).observe(time.perf_counter() - t)
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # A readable message first, the field-level details after.
        if request.url.path == "/v1/events":
            metrics.events.labels(result="rejected").inc()
        errors = exc.errors()
        msg = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors[:5])
        details = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in errors[:20]]
        return JSONResponse({"detail": f"invalid request: {msg}", "errors": details}, status_code=422)

    for r in (recommendations.router, items.router, events.router, health.router, admin.router):
        app.include_router(r)
    return app
