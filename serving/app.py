"""The FastAPI app factory: ``uvicorn serving.app:create_app --factory``."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from .bundle import Bundle
from .console import router as console
from .events import EventService
from .experiments import load_experiments
from .fast_path import FastPath, KnownQueries
from .feature_sync import ItemFeatureSync
from .forget import Forgetter
from .holder import BundleHolder, Poller
from .impressions import ImpressionWriter
from .limits import BodyLimit
from .metrics import Metrics
from .observe import ObserveLatency
from .recommender import Recommender
from .routers import admin, events, health, items, recommendations, users
from .settings import ServingSettings
from .similar import SimilarItems
from .store import Store, StoreUnavailable

log = logging.getLogger(__name__)

# The shape of every 422 this app sends (see bad_request below), for the OpenAPI schema.
_VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "a readable message"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}}},
        },
    },
}


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schemas = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = _VALIDATION_ERROR_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    return build


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    """Build the app; settings come from the environment unless given (tests)."""
    settings = settings or ServingSettings()
    metrics = Metrics()

    def on_swap(b: Bundle) -> None:
        metrics.set_bundle(b.version)
        metrics.bundle_loads.labels(result="ok").inc()
        # Long-lived objects (modules, the app, the bundle's dicts) out of the cyclic collector's
        # reach: a full collection walked ~150,000 of them, tens of ms on the event loop (p99).
        # Objects freed by reference counting (an old bundle) are still freed.
        gc.freeze()

    def on_error(_: str) -> None:
        metrics.bundle_loads.labels(result="error").inc()

    store = Store(settings.redis_url, settings.redis_socket_timeout_s, settings.redis_backoff_s)
    holder = BundleHolder(
        settings.bundle_link,
        settings.hnsw_threshold,
        on_swap=on_swap,
        on_error=on_error,
        pinned_retry_s=settings.pinned_retry_s,
        vectors_in_redis=settings.vector_backend == "redis",
        ef_runtime=settings.vector_ef_runtime,
    )
    features = ItemFeatureSync(store, holder.loaded, settings.feature_fetch)
    holder.prepare = features.prepare  # a new bundle's item features are read before it is swapped in
    experiments = load_experiments(settings.experiments_file)

    def in_catalogue(item_id: str) -> bool | None:
        bundle = holder.current
        return None if bundle is None else bundle.available(item_id)

    event_service = EventService(
        store,
        metrics,
        experiments,
        settings,
        in_catalogue,
        settings.event_max_age_s,
        settings.event_max_ahead_s,
    )
    impressions = ImpressionWriter(store, metrics)
    recommender = Recommender(
        settings, holder, store, metrics, experiments, event_service, features, impressions
    )
    # The poller also writes buffered stage timings out when traffic stops (Metrics.observe_stages).
    poller = Poller([holder.refresh, features.refresh, metrics.flush], settings.bundle_poll_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not holder.refresh():
            log.warning("starting without a bundle: %s", holder.last_error)
        poller.start()
        impressions.start()
        metrics_server = None
        if settings.metrics_port:
            from prometheus_client import start_http_server

            # A port of its own, not published: Prometheus scrapes it on the internal network.
            # With several workers the first to bind serves it; in multiprocess mode its registry
            # reports every worker, so the others need not (they would fail to bind anyway).
            try:
                metrics_server, _ = start_http_server(
                    settings.metrics_port, registry=metrics.collecting_registry()
                )
            except OSError as e:
                log.info("metrics port %s served by another worker (%s)", settings.metrics_port, e)
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server.shutdown()
            poller.stop()
            impressions.close()
            store.close()
            metrics.close()

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
    app.state.forgetter = Forgetter(store, settings)
    app.openapi = _openapi(app)  # type: ignore[method-assign]

    known_queries = app.state.known_queries = KnownQueries()
    # Innermost: a request answered there is still timed by ObserveLatency.
    app.add_middleware(FastPath, known=known_queries, recommender=recommender, settings=settings)
    app.add_middleware(ObserveLatency, metrics=metrics)

    def body_rejected(scope: dict[str, Any]) -> None:
        if scope.get("path") == "/v1/events":
            metrics.events.labels(result="rejected").inc()

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, on_reject=body_rejected)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # A readable message first, the field-level details after.
        if request.url.path == "/v1/events":
            metrics.events.labels(result="rejected").inc()
        errors = exc.errors()
        msg = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors[:5])
        details = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in errors[:20]]
        return JSONResponse({"detail": f"invalid request: {msg}", "errors": details}, status_code=422)

    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(redis.RedisError)
    async def store_down(request: Request, exc: Exception) -> JSONResponse:
        # Paths that degrade catch these themselves; anything that escapes is a 503, never a 500,
        # and the body never carries the server's text (hosts, ports).
        log.warning("%s %s: redis error %s", request.method, request.url.path, type(exc).__name__)
        metrics.degraded.labels(reason="redis_error_escaped").inc()
        return JSONResponse({"detail": "store unavailable, retry later"}, status_code=503)

    routers = (recommendations.router, items.router, events.router, health.router, admin.router, users.router)
    for r in (*routers, console.api, console.pages):
        app.include_router(r)
    return app
