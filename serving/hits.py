"""Cache hits of ``GET /v1/recommendations/{user_id}`` answered before FastAPI, as pure ASGI.

On a hit of the in-process response cache the answer is stored bytes plus one read of the user's
cache generation (read-your-writes, ``Recommender.recommend_cached``); FastAPI's routing,
parameter validation and dependency resolution cost several times that. So this middleware
answers hits itself, but only for requests FastAPI has already validated: the route records each
raw query string it accepted with the ``RecParams`` it built (``KnownQueries``), and a request is
answered here only if its query string is known, its read key passes the route's own check and
the cache holds an entry for its user (entries are only made by the validated route). Anything
else (unknown query, explain, missing or wrong key, a miss, a stale generation, a store error)
goes on to FastAPI unchanged, which answers it exactly as before.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import TYPE_CHECKING

from fastapi import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .deps import check_read_key
from .pipeline import RecParams

if TYPE_CHECKING:
    from .recommender import Recommender
    from .settings import ServingSettings

PREFIX = "/v1/recommendations/"
_ROUTE = SimpleNamespace(path=PREFIX + "{user_id}")


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


class CachedHits:
    """Answers a validated request's in-process cache hit; passes everything else on."""

    def __init__(
        self, app: ASGIApp, known: KnownQueries, recommender: Recommender, settings: ServingSettings
    ) -> None:
        self.app = app
        self.known = known
        self.recommender = recommender
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(PREFIX):
            body = await self._hit(scope)
            if body is not None:
                scope["route"] = _ROUTE  # ObserveLatency labels by the route's path template
                headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _hit(self, scope: Scope) -> bytes | None:
        params = self.known.get(scope["query_string"])
        user_id = scope["path"][len(PREFIX) :]
        if params is None or not user_id or "/" in user_id or scope.get("root_path"):
            return None
        if self.settings.read_key is not None:
            key = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-api-key"), None)
            try:
                check_read_key(self.settings, key)
            except HTTPException:
                return None  # the route answers 401/403
        return self.recommender.recommend_cached(user_id, params)
