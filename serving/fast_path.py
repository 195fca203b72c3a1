"""``GET /v1/recommendations/{user_id}`` of already-validated query strings, before FastAPI (pure ASGI).

FastAPI's routing, validation of the route's eight query parameters and dependency resolution
cost several times a cache hit, and a good share of an uncached request. So this middleware
answers the route's common case itself, but only for query strings FastAPI has already
validated: the route records each raw query string it accepted with the ``RecParams`` it built
(``KnownQueries``). A request is answered here when its query string is known, its user id
passes the route's own pattern, its read key passes the route's own check, and the
recommender can answer on the event loop (``Recommender.answer``: an in-process cache
hit, or an uncached request that loads nothing in bulk, its round trip awaited). Anything else (unknown query string,
explain, a bad user id, missing or wrong read key, a pinned A/B bundle, a store error) goes on
to FastAPI unchanged, which answers it as before.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated

import redis
from fastapi import HTTPException
from pydantic import StringConstraints, TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from lambdarec_contracts.events import ID_PATTERN

from .deps import check_read_key
from .pipeline import RecParams
from .store import StoreUnavailable

if TYPE_CHECKING:
    from .recommender import Recommender
    from .settings import ServingSettings

PREFIX = "/v1/recommendations/"
_ROUTE = SimpleNamespace(path=PREFIX + "{user_id}")  # ObserveLatency labels by the route's template
# The route's path parameter, validated by the same engine FastAPI uses (pydantic-core).
_USER_ID = TypeAdapter(Annotated[str, StringConstraints(pattern=ID_PATTERN)])


class KnownQueries:
    """Raw query strings the route validated, with the parameters it built from each (bounded)."""

    def __init__(self, max_size: int = 1024) -> None:
        self.max_size = max_size
        self._params: dict[bytes, RecParams] = {}
        self._lock = threading.Lock()

    def remember(self, query_string: bytes, params: RecParams) -> None:
        if query_string in self._params:
            return
        with self._lock:
            if len(self._params) >= self.max_size:  # many distinct queries: start over
                self._params.clear()
            self._params[query_string] = params

    def get(self, query_string: bytes) -> RecParams | None:
        return self._params.get(query_string)


class FastPath:
    """Answers validated recommendation requests the recommender can serve inline; passes the rest on."""

    def __init__(
        self, app: ASGIApp, known: KnownQueries, recommender: Recommender, settings: ServingSettings
    ) -> None:
        self.app = app
        self.known = known
        self.recommender = recommender
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(PREFIX):
            body = await self._answer(scope)
            if body is not None:
                scope["route"] = _ROUTE
                headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope) -> bytes | None:
        params = self.known.get(scope["query_string"])
        user_id = scope["path"][len(PREFIX) :]
        if params is None or not user_id or "/" in user_id or scope.get("root_path"):
            return None
        try:
            _USER_ID.validate_python(user_id)
            if self.settings.read_key is not None:
                key = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-api-key"), None)
                check_read_key(self.settings, key)
        except (ValidationError, HTTPException):
            return None  # the route answers 422 / 401 / 403
        try:
            return await self.recommender.answer(user_id, params)
        except (StoreUnavailable, redis.RedisError):
            return None  # should not escape (the recommender degrades); the route maps it to a 503
