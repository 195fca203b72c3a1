"""Recommendations of validated query strings answered before FastAPI (``serving.fast_path``).

``FastPath`` is driven directly as ASGI around an inner app that records what it is passed, with
the real recommender of a running app: a request it answers never reaches the inner app, anything
it may not answer (a query string the route has not validated, explain, a bad user id, a missing
or wrong read key, a pinned A/B bundle) reaches it unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import pytest

from serving.experiments import assign, load_experiments
from serving.fast_path import FastPath, KnownQueries
from serving.pipeline import RecParams
from testing_support.bundle_builder import pinned_experiment
from tests.serving.conftest import ADMIN, AUTH, now_iso

pytestmark = pytest.mark.redis

READ_KEY = "read-key-0123456789"


def call(fast: FastPath, path: str, query: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    """(status, body) when ``fast`` answered, else the string "passed"."""
    sent: list[dict[str, Any]] = []
    passed: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": path, "query_string": query, "headers": headers or []}
    fast.app = inner
    asyncio.run(fast(scope, receive, send))
    if passed:
        assert not sent and passed == [scope]
        return "passed"
    assert scope["route"].path == "/v1/recommendations/{user_id}"  # the latency metric's label
    start, body = sent
    assert dict(start["headers"])[b"content-length"] == str(len(body["body"])).encode()
    return start["status"], json.loads(body["body"])


def fast_of(c: Any) -> FastPath:
    s = c.app.state
    return FastPath(lambda *a: None, s.known_queries, s.recommender, s.settings)


def test_only_validated_query_strings_are_answered(client_for, published):
    c = client_for()
    fast = fast_of(c)
    assert call(fast, "/v1/recommendations/u1", b"k=5") == "passed"  # the route has not seen k=5
    first = c.get("/v1/recommendations/u1?k=5").json()
    status, body = call(fast, "/v1/recommendations/u1", b"k=5")
    assert status == 200 and body["cached"] is True and body["items"] == first["items"]
    assert body["request_id"] != first["request_id"]
    # Another user with the validated query string: computed here, the same as the route computes.
    status, u2 = call(fast, "/v1/recommendations/u2", b"k=5")
    assert status == 200 and u2["cached"] is False and u2["user_id"] == "u2" and len(u2["items"]) == 5
    assert c.get("/v1/recommendations/u2?k=5").json()["items"] == u2["items"]
    for path, query in [
        ("/v1/recommendations/u1", b"k=5&explain=true"),
        ("/v1/recommendations/u1", b"5=k"),
        ("/v1/recommendations/u1/x", b"k=5"),
        ("/v1/recommendations/bad id", b"k=5"),  # the route's user id pattern
        ("/v1/recommendations/" + "u" * 65, b"k=5"),
    ]:
        assert call(fast, path, query) == "passed", (path, query)
    # The route refuses what it refused before.
    assert c.get("/v1/recommendations/bad%20id?k=5").status_code == 422
    assert c.get("/v1/recommendations/u1?k=500").status_code == 422
    assert c.get("/v1/recommendations/u1?k=5&explain=true").status_code == 401
    explained = c.get("/v1/recommendations/u1?k=5&explain=true", headers=ADMIN).json()
    assert explained["cached"] is False and explained["trace"]["final"]


def test_a_hit_is_not_answered_after_the_users_events(client_for, published):
    c = client_for(LAMBDAREC_GENERATORS="two_tower,because_you_liked")
    fast = fast_of(c)
    first = c.get("/v1/recommendations/u1?k=5").json()
    assert call(fast, "/v1/recommendations/u1", b"k=5")[1]["cached"] is True
    liked = first["items"][0]["item_id"]
    ev = {"event_id": "e-1", "user_id": "u1", "item_id": liked, "type": "like", "ts": now_iso()}
    assert c.post("/v1/events", json={"events": [ev]}, headers=AUTH).status_code == 202
    after = call(fast, "/v1/recommendations/u1", b"k=5")[1]  # read-your-writes
    assert after["cached"] is False and liked not in [it["item_id"] for it in after["items"]]
    assert c.get("/v1/recommendations/u1?k=5").json() | {"request_id": ""} == after | {
        "request_id": "",
        "cached": True,
    }


def test_the_read_key_is_checked_here_too(client_for, published):
    c = client_for(LAMBDAREC_READ_KEY=READ_KEY)
    fast = fast_of(c)
    key = [(b"x-api-key", READ_KEY.encode())]
    assert c.get("/v1/recommendations/u1?k=3", headers={"X-API-Key": READ_KEY}).status_code == 200
    assert call(fast, "/v1/recommendations/u1", b"k=3", key)[1]["cached"] is True
    assert (
        call(fast, "/v1/recommendations/u2", b"k=3", [(b"x-api-key", ADMIN["X-API-Key"].encode())])[0] == 200
    )
    for user in ("u1", "u2"):
        assert call(fast, f"/v1/recommendations/{user}", b"k=3") == "passed"
        assert (
            call(fast, f"/v1/recommendations/{user}", b"k=3", [(b"x-api-key", b"wrong-key-1234567")])
            == "passed"
        )
    # Through the whole app the lists are still refused without the right key.
    assert c.get("/v1/recommendations/u1?k=3").status_code == 401
    assert c.get("/v1/recommendations/u2?k=3", headers={"X-API-Key": "wrong-key-1234567"}).status_code == 403


def test_a_pinned_bundle_variant_goes_to_the_route(client_for, published, models_dir, tmp_path):
    exp = tmp_path / "exp.yaml"
    pinned_experiment(models_dir / "bundles", exp)
    c = client_for(LAMBDAREC_EXPERIMENTS_FILE=str(exp))
    cfg = load_experiments(exp)
    fast = fast_of(c)
    assert c.get("/v1/recommendations/u0?k=2").status_code == 200
    for user in [f"u{n}" for n in range(8)]:
        pinned = assign(cfg, user).variant.name == "old"
        answer = call(fast, f"/v1/recommendations/{user}", b"k=2")
        assert (answer == "passed") is pinned


def test_answers_are_timed_under_the_route_template(client_for, published):
    c = client_for()
    for user in ("u1", "u1", "u1", "u2"):
        assert c.get(f"/v1/recommendations/{user}?k=2").status_code == 200
    text = c.get("/metrics").text
    line = next(
        s
        for s in text.splitlines()
        if s.startswith("lambdarec_http_request_duration_seconds_count")
        and 'endpoint="/v1/recommendations/{user_id}"' in s
        and 'status="200"' in s
    )
    assert float(line.split()[-1]) == 4.0
    assert 'lambdarec_cache_requests_total{layer="local",result="hit"} 2.0' in text
    assert 'lambdarec_recommendations_total{cached="false",variant="default"} 2.0' in text


def test_served_items_are_counted_by_source_on_hits_too(client_for, published):
    c = client_for(LAMBDAREC_GENERATORS="two_tower,because_you_liked,popular")
    bodies = [c.get("/v1/recommendations/u1?k=6").json() for _ in range(3)]
    assert [b["cached"] for b in bodies] == [False, True, True]
    want: dict[str, int] = {}
    for it in bodies[0]["items"]:
        want[it["source"]] = want.get(it["source"], 0) + 3
    text = c.get("/metrics").text
    got = {
        line.split('source="')[1].split('"')[0]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("lambdarec_impressions_total{")
    }
    assert got == want and sum(want.values()) == 18


def test_known_queries_are_bounded():
    known = KnownQueries(max_size=2)
    p = RecParams(k=1)
    for q in (b"a", b"b"):
        known.remember(q, p)
    assert known.get(b"a") is p and known.get(b"b") is p
    known.remember(b"c", p)  # full: starts over
    assert (known.get(b"a"), known.get(b"b"), known.get(b"c")) == (None, None, p)


def test_a_hit_degrades_when_redis_hangs_and_recovers(client_for, published, redis_server):
    # The hit's generation GET runs on the loop: a hung Redis (SIGSTOP) must end in the
    # socket timeout and a degraded answer, not a hang, and leave no half-read reply in the pool.
    c = client_for(LAMBDAREC_REDIS_SOCKET_TIMEOUT_S=0.3, LAMBDAREC_REDIS_BACKOFF_S=0.1)
    first = c.get("/v1/recommendations/u1?k=3").json()
    assert c.get("/v1/recommendations/u1?k=3").json()["cached"] is True
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        body = c.get("/v1/recommendations/u1?k=3").json()
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    assert body["degraded"] is True and "redis_unavailable" in body["degraded_reasons"]
    time.sleep(0.2)  # past the back-off
    for _ in range(3):
        again = c.get("/v1/recommendations/u1?k=3").json()
        assert again["degraded"] is False and again["items"] == first["items"]
