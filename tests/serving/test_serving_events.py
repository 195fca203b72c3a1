"""POST /v1/events against a real Redis: nothing lost, nothing double-counted, never a 500.

Each test here is a regression test of a defect of issue 11 (it failed before the fix).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from lambdarec_contracts import redis_keys
from lambdarec_contracts.events import stream_fields_to_record
from tests.serving.conftest import ADMIN, AUTH, now_iso

pytestmark = pytest.mark.redis


def ev(eid: str, item: str = "i1", type_: str = "like", ts: str | None = None, user: str = "u1") -> dict:
    return {"event_id": eid, "user_id": user, "item_id": item, "type": type_, "ts": ts or now_iso()}


def post(c, *events: dict, headers: dict | None = None):
    return c.post("/v1/events", json={"events": list(events)}, headers=headers or AUTH)


def test_timestamp_outside_utc_range_is_422_and_the_event_is_not_lost(client, r):
    # Was: HTTP 500 (OverflowError in astimezone) after the marker was set; the retry then
    # answered {"accepted": 0, "duplicates": 1} and the event was gone for good.
    bad = post(client, ev("e-far", ts="0001-01-01T00:00:00+05:00"))
    assert bad.status_code == 422 and "out of range" in bad.json()["detail"]
    assert r.xlen(redis_keys.EVENTS_STREAM) == 0
    ok = post(client, ev("e-far"))
    assert ok.status_code == 202 and ok.json() == {"accepted": 1, "duplicates": 0}


def test_timestamps_outside_the_configured_window_are_422(client_for, published, r):
    c = client_for(LAMBDAREC_EVENT_MAX_AGE_S=3600, LAMBDAREC_EVENT_MAX_AHEAD_S=60)
    now = datetime.now(UTC)
    old = post(c, ev("e-old", ts=(now - timedelta(hours=2)).isoformat()), ev("e-ok"))
    assert (
        old.status_code == 422 and "events.0.ts" in old.json()["detail"] and "window" in old.json()["detail"]
    )
    ahead = post(c, ev("e-ahead", ts=(now + timedelta(minutes=5)).isoformat()))
    assert ahead.status_code == 422
    assert r.xlen(redis_keys.EVENTS_STREAM) == 0  # all or nothing: e-ok was not stored either
    assert post(c, ev("e-ok")).json() == {"accepted": 1, "duplicates": 0}


def test_a_failed_append_is_retried_not_reported_as_duplicate(client, r, redis_server):
    # Make XADD fail (the stream key holds a string): markers and append used to be two round
    # trips, so the markers stayed and the retry said "duplicate" for events never appended.
    r.set(redis_keys.EVENTS_STREAM, "not a stream")
    failed = post(client, ev("e-1"), ev("e-2", "i2"))
    assert failed.status_code == 503
    body = failed.text
    assert "127.0.0.1" not in body and str(redis_server.port) not in body and "WRONGTYPE" not in body
    r.delete(redis_keys.EVENTS_STREAM)
    retry = post(client, ev("e-1"), ev("e-2", "i2"))
    assert retry.json() == {"accepted": 2, "duplicates": 0}
    ids = [stream_fields_to_record(f)["event_id"] for _, f in r.xrange(redis_keys.EVENTS_STREAM)]
    assert ids == ["e-1", "e-2"]
    assert post(client, ev("e-1")).json() == {"accepted": 0, "duplicates": 1}


def test_redis_errors_degrade_or_503_never_500(client, r, redis_server):
    # A foreign-typed key makes the user-state read fail with WRONGTYPE (was: HTTP 500).
    r.set(redis_keys.seen_items("u9"), "oops")
    body = client.get("/v1/recommendations/u9", params={"k": 3}).json()
    assert body["degraded"] is True and "redis_unavailable" in body["degraded_reasons"]
    assert len(body["items"]) == 3
    # Out of memory (maxmemory 1 byte, noeviction): writes are refused as a whole -> 503.
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", 1)
    try:
        full = post(client, ev("e-oom"))
        assert full.status_code == 503 and "127.0.0.1" not in full.text
        assert client.get("/v1/recommendations/u1", params={"k": 3}).status_code == 200
    finally:
        r.config_set("maxmemory", 0)
    assert r.exists(redis_keys.event_seen("e-oom")) == 0  # the refused script wrote nothing
    assert post(client, ev("e-oom")).json() == {"accepted": 1, "duplicates": 0}
    # Redis down: the 503 names no host or port either (was: redis-py's "connecting to host:port").
    redis_server.stop()
    down = post(client, ev("e-down"))
    assert down.status_code == 503 and str(redis_server.port) not in down.text


def test_request_body_limit(client_for, published):
    c = client_for(LAMBDAREC_MAX_BODY_BYTES=2048)
    many = [ev(f"e-{n}", f"i{1 + n % 12}") for n in range(30)]  # ~4 KB of JSON
    assert post(c, *many).status_code == 413
    # Without Content-Length (chunked), the limit applies while the body streams in.
    import json

    raw = json.dumps({"events": many}).encode()
    chunked = c.post(
        "/v1/events",
        content=(raw[i : i + 512] for i in range(0, len(raw), 512)),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    assert post(c, *many[:3]).status_code == 202
    assert 'lambdarec_events_total{result="rejected"} 2.0' in c.get("/metrics").text


def test_read_key_guards_reads_when_set(client_for, published):
    c = client_for(LAMBDAREC_READ_KEY="read-key-0123456789")
    assert c.get("/v1/recommendations/u1").status_code == 401
    assert c.get("/v1/items/i1/similar", headers={"X-API-Key": "wrong-key-1234567"}).status_code == 403
    assert c.get("/v1/recommendations/u1", headers={"X-API-Key": "read-key-0123456789"}).status_code == 200
    assert c.get("/v1/items/i1/similar", headers=AUTH).status_code == 200  # the write key reads too
    # The admin key reads too (the console asks for explained recommendations with it).
    explained = c.get("/v1/recommendations/u1?explain=true", headers=ADMIN)
    assert explained.status_code == 200 and explained.json()["trace"]["final"]
    assert c.post("/v1/admin/reload", headers={"X-API-Key": "read-key-0123456789"}).status_code == 403
    assert c.post("/v1/admin/reload", headers=ADMIN).status_code == 200
    assert c.get("/healthz").status_code == 200


def test_metrics_can_leave_the_api_port(client_for, published):
    c = client_for(LAMBDAREC_METRICS_ON_API_PORT="false")
    assert c.get("/metrics").status_code == 404


def test_seen_and_not_interested_are_bounded_and_expire(client_for, published, r):
    c = client_for(LAMBDAREC_SEEN_ITEMS_MAX=5, LAMBDAREC_SEEN_ITEMS_TTL_S=3600)
    now = datetime.now(UTC)
    events = [
        ev(f"e-{n}", f"x{n}", "view", (now - timedelta(seconds=100 - n)).isoformat()) for n in range(30)
    ]
    assert post(c, *events).json() == {"accepted": 30, "duplicates": 0}
    key = redis_keys.seen_items("u1")
    assert [m.decode() for m in r.zrevrange(key, 0, -1)] == [f"x{n}" for n in range(29, 24, -1)]
    assert 3500 < r.ttl(key) <= 3600
    # Members older than the TTL (by event time) are dropped on the next write.
    c2 = client_for(LAMBDAREC_SEEN_ITEMS_MAX=5, LAMBDAREC_SEEN_ITEMS_TTL_S=60)
    assert post(c2, ev("e-new", "fresh", "view")).json()["accepted"] == 1
    assert [m.decode() for m in r.zrange(key, 0, -1)] == ["fresh"]


def test_events_on_unknown_items_do_not_feed_trending(client, r):
    assert (
        post(client, ev("e-k", "i3", "view"), ev("e-u", "not-in-catalogue", "view")).json()["accepted"] == 2
    )
    records = [stream_fields_to_record(f) for _, f in r.xrange(redis_keys.EVENTS_STREAM)]
    assert [(x["item_id"], x["item_known"]) for x in records] == [("i3", True), ("not-in-catalogue", False)]
    # The speed layer applies them with the same contracts script: only the known item trends.
    from lambdarec_contracts.user_state import EventWriter, UserStateLimits

    assert EventWriter(UserStateLimits()).apply(r, records) == 2
    bucket = int(time.time()) // 3600
    assert r.zrange(redis_keys.trending(bucket), 0, -1) == [b"i3"]


def test_a_pinned_bundle_that_fails_is_not_reloaded_per_request(models_dir, monkeypatch):
    from serving.holder import BundleHolder

    holder = BundleHolder(models_dir / "current", pinned_retry_s=60)
    calls: list[str] = []

    def failing(path):
        calls.append(str(path))
        raise FileNotFoundError(path)

    monkeypatch.setattr(holder, "_load", failing)
    for _ in range(20):
        assert holder.pinned("missing-version", models_dir / "bundles") is None
    assert len(calls) == 1


def test_appending_never_trims_unprocessed_entries(client_for, published, r):
    # Was: XADD MAXLEN ~ LAMBDAREC_STREAM_MAXLEN on every append, whether or not the worker had
    # read the entries. Now only the worker trims, below what its group acknowledged.
    c = client_for(LAMBDAREC_STREAM_MAXLEN=1000)
    for b in range(12):
        batch = [ev(f"e-{b}-{n}", f"i{1 + n % 12}", "view", user=f"u{n}") for n in range(100)]
        assert post(c, *batch).json()["accepted"] == 100
    assert r.xlen(redis_keys.EVENTS_STREAM) == 1200
