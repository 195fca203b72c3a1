"""Item features live in serving memory: read once, swapped when materialization stamps a version."""

from __future__ import annotations

import time

import pytest

from lambdarec_contracts import redis_keys
from testing_support.bundle_builder import expected_query, expected_scores
from tests.serving.feast_layout import write_entity

pytestmark = pytest.mark.redis


def scores(c, user: str) -> dict[str, float]:
    body = c.get(f"/v1/recommendations/{user}", params={"k": 12}).json()
    assert body["degraded"] is False
    return {it["item_id"]: it["score"] for it in body["items"]}


def wait_for(pred, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_features_are_read_once_and_swapped_on_a_new_stamp(client_for, published, spec, r):
    for item, bayes in (("i2", 5.0), ("i7", 4.0)):
        write_entity(r, "item_id", item, "item_stats", {"bayes_rating": bayes})
    r.set(redis_keys.FEATURES_VERSION, "2026-01-01T00:00:00+00:00")
    c = client_for(
        LAMBDAREC_GENERATORS="two_tower", LAMBDAREC_BUNDLE_POLL_S=0.05, LAMBDAREC_LOCAL_CACHE_SIZE=0,
        LAMBDAREC_CACHE_TTL_S=0,
    )  # fmt: skip
    q = expected_query(spec, "u1", [])
    first = expected_scores(spec, q, list(spec.items), {"i2": 5.0, "i7": 4.0})
    got = scores(c, "u1")
    assert got == pytest.approx(first, abs=1e-5)

    # A Feast write alone does not reach requests: the features are in memory...
    write_entity(r, "item_id", "i2", "item_stats", {"bayes_rating": 1.0})
    time.sleep(0.3)
    assert scores(c, "u1")["i2"] == pytest.approx(first["i2"], abs=1e-5)
    # ...until the materialize job stamps a new version; every poller then swaps them in.
    r.set(redis_keys.FEATURES_VERSION, "2026-01-02T00:00:00+00:00")
    second = expected_scores(spec, q, list(spec.items), {"i2": 1.0, "i7": 4.0})
    assert wait_for(lambda: abs(scores(c, "u1")["i2"] - second["i2"]) < 1e-5)
    assert scores(c, "u1") == pytest.approx(second, abs=1e-5)
    assert second["i2"] != pytest.approx(first["i2"], abs=1e-3)  # the change is visible in scores


def test_redis_down_at_start_degrades_then_features_arrive(client_for, published, spec, r, redis_server):
    write_entity(r, "item_id", "i2", "item_stats", {"bayes_rating": 5.0})
    redis_server.stop()
    c = client_for(LAMBDAREC_GENERATORS="two_tower", LAMBDAREC_LOCAL_CACHE_SIZE=0, LAMBDAREC_CACHE_TTL_S=0)
    body = c.get("/v1/recommendations/u1", params={"k": 12}).json()
    assert body["degraded"] is True and "item_features_unavailable" in body["degraded_reasons"]
    assert len(body["items"]) == 12
    # Until they are read, a request may read every item's features: not on the event loop.
    assert c.app.state.recommender.runs_inline("u1") is False
    redis_server.start()  # durable: the feature hash is back
    q = expected_query(spec, "u1", [])
    want = expected_scores(spec, q, list(spec.items), {"i2": 5.0})
    # Retried by requests at most every few seconds (feature_sync.RETRY_S), then served from memory.
    assert wait_for(lambda: not c.get("/v1/recommendations/u1", params={"k": 12}).json()["degraded"], 10)
    assert scores(c, "u1") == pytest.approx(want, abs=1e-5)
    assert c.app.state.recommender.runs_inline("u1") is True
