"""Cache hits answered before FastAPI (``serving.hits``): only validated queries, same answers.

``CachedHits`` is driven directly as ASGI around an inner app that records what it is passed, with
the real recommender of a running app: a request it answers never reaches the inner app, anything
it may not answer (unknown query string, uncached user, stale generation, explain, missing or
wrong read key) reaches it unchanged.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from serving.hits import CachedHits, KnownQueries
from serving.pipeline import RecParams
from tests.serving.conftest import ADMIN, AUTH, now_iso

pytestmark = pytest.mark.redis

READ_KEY = "read-key-0123456789"


def call(hits: CachedHits, path: str, query: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    """(status, body) when ``hits`` answered, else the string "passed"."""
    sent: list[dict[str, Any]] = []
    passed: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": path, "query_string": query, "headers": headers or []}
    hits.app = inner
    asyncio.run(hits(scope, receive, send))
    if passed:
        assert not sent and passed == [scope]
        return "passed"
    assert scope["route"].path == "/v1/recommendations/{user_id}"  # the latency metric's label
    start, body = sent
    assert dict(start["headers"])[b"content-length"] == str(len(body["body"])).encode()
    return start["status"], json.loads(body["body"])


def hits_of(c: Any) -> CachedHits:
    s = c.app.state
    return CachedHits(lambda *a: None, s.known_queries, s.recommender, s.settings)


def test_only_cached_lists_of_validated_queries_are_answered(client_for, published):
    c = client_for()
    hits = hits_of(c)
    assert call(hits, "/v1/recommendations/u1", b"k=5") == "passed"  # the route has not seen k=5
    first = c.get("/v1/recommendations/u1?k=5").json()
    status, body = call(hits, "/v1/recommendations/u1", b"k=5")
    assert status == 200 and body["cached"] is True and body["items"] == first["items"]
    assert body["request_id"] != first["request_id"]
    assert call(hits, "/v1/recommendations/u2", b"k=5") == "passed"  # validated query, u2 not cached
    assert call(hits, "/v1/recommendations/u1", b"k=5&explain=true") == "passed"
    assert call(hits, "/v1/recommendations/u1", b"5=k") == "passed"
    assert call(hits, "/v1/recommendations/u1/x", b"k=5") == "passed"
    # The route refuses what it refused before, whatever the cache holds.
    assert c.get("/v1/recommendations/u1?k=500").status_code == 422
    assert c.get("/v1/recommendations/u1?k=5&explain=true").status_code == 401
    explained = c.get("/v1/recommendations/u1?k=5&explain=true", headers=ADMIN).json()
    assert explained["cached"] is False and explained["trace"]["final"]


def test_a_hit_is_not_answered_after_the_users_events(client_for, published):
    c = client_for(LAMBDAREC_GENERATORS="two_tower,because_you_liked")
    hits = hits_of(c)
    first = c.get("/v1/recommendations/u1?k=5").json()
    assert call(hits, "/v1/recommendations/u1", b"k=5")[1]["cached"] is True
    liked = first["items"][0]["item_id"]
    ev = {"event_id": "e-1", "user_id": "u1", "item_id": liked, "type": "like", "ts": now_iso()}
    assert c.post("/v1/events", json={"events": [ev]}, headers=AUTH).status_code == 202
    assert call(hits, "/v1/recommendations/u1", b"k=5") == "passed"  # read-your-writes
    after = c.get("/v1/recommendations/u1?k=5").json()
    assert after["cached"] is False and liked not in [it["item_id"] for it in after["items"]]
    assert call(hits, "/v1/recommendations/u1", b"k=5")[1]["items"] == after["items"]


def test_the_read_key_is_checked_before_a_hit(client_for, published):
    c = client_for(LAMBDAREC_READ_KEY=READ_KEY)
    hits = hits_of(c)
    key = [(b"x-api-key", READ_KEY.encode())]
    assert c.get("/v1/recommendations/u1?k=3", headers={"X-API-Key": READ_KEY}).status_code == 200
    assert call(hits, "/v1/recommendations/u1", b"k=3", key)[1]["cached"] is True
    assert (
        call(hits, "/v1/recommendations/u1", b"k=3", [(b"x-api-key", ADMIN["X-API-Key"].encode())])[0] == 200
    )
    assert call(hits, "/v1/recommendations/u1", b"k=3") == "passed"
    assert call(hits, "/v1/recommendations/u1", b"k=3", [(b"x-api-key", b"wrong-key-1234567")]) == "passed"
    # Through the whole app the cached list is still refused without the right key.
    assert c.get("/v1/recommendations/u1?k=3").status_code == 401
    assert c.get("/v1/recommendations/u1?k=3", headers={"X-API-Key": "wrong-key-1234567"}).status_code == 403


def test_hits_are_timed_under_the_route_template(client_for, published):
    c = client_for()
    for _ in range(3):
        assert c.get("/v1/recommendations/u1?k=2").status_code == 200
    text = c.get("/metrics").text
    line = next(
        s for s in text.splitlines()
        if s.startswith("lambdarec_http_request_duration_seconds_count")
        and 'endpoint="/v1/recommendations/{user_id}"' in s and 'status="200"' in s
    )  # fmt: skip
    assert float(line.split()[-1]) == 3.0
    assert 'lambdarec_cache_requests_total{layer="local",result="hit"} 2.0' in text


def test_known_queries_are_bounded():
    known = KnownQueries(max_size=2)
    p = RecParams(k=1)
    for q in (b"a", b"b"):
        known.remember(q, p)
    assert known.get(b"a") is p and known.get(b"b") is p
    known.remember(b"c", p)  # full: starts over
    assert (known.get(b"a"), known.get(b"b"), known.get(b"c")) == (None, None, p)
