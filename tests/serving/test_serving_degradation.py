"""Redis outages and missing bundles: 200 with degraded=true, then automatic recovery."""

from __future__ import annotations

import time

import pytest

from tests.serving.conftest import ADMIN, AUTH, now_iso

pytestmark = pytest.mark.redis


def test_redis_killed_then_restarted(client_for, published, redis_server, spec):
    c = client_for()
    warm = c.get("/v1/recommendations/u1", params={"k": 5}).json()
    assert warm["degraded"] is False

    redis_server.stop()
    for user in ("u1", "u2", "stranger"):
        resp = c.get(f"/v1/recommendations/{user}", params={"k": 5})
        assert resp.status_code == 200
        body = resp.json()
        assert body["degraded"] is True and "redis_unavailable" in body["degraded_reasons"]
        assert body["model_version"] == spec.version and len(body["items"]) == 5
        assert all(it["item_id"] in spec.items for it in body["items"])
    assert c.get("/v1/items/i1/similar").status_code == 200  # needs no Redis
    ready = c.get("/readyz")
    assert ready.status_code == 503 and ready.json()["redis"] is False
    ev = {"event_id": "e1", "user_id": "u1", "item_id": "i1", "type": "like", "ts": now_iso()}
    down = c.post("/v1/events", json={"events": [ev]}, headers=AUTH)
    assert down.status_code == 503 and "retry" in down.json()["detail"]
    assert 'lambdarec_degraded_responses_total{reason="redis_unavailable"} 3.0' in c.get("/metrics").text

    redis_server.start()  # same port, empty data
    time.sleep(0.3)  # past the client's back-off
    body = c.get("/v1/recommendations/u1", params={"k": 5}).json()
    assert body["degraded"] is False
    assert c.get("/readyz").status_code == 200
    assert c.post("/v1/events", json={"events": [ev]}, headers=AUTH).json() == {
        "accepted": 1,
        "duplicates": 0,
    }


def test_no_bundle_published(client_for, models_dir):
    c = client_for()
    ready = c.get("/readyz")
    assert ready.status_code == 503 and "no bundle published" in ready.json()["detail"]
    body = c.get("/v1/recommendations/u1").json()
    assert body["degraded"] is True and body["degraded_reasons"] == ["no_bundle"]
    assert body["items"] == [] and body["model_version"] is None
    assert c.get("/v1/items/i1/similar").json()["degraded"] is True


def test_broken_bundle_keeps_the_old_one(client, models_dir, published, spec):
    from testing_support.bundle_builder import BundleSpec, build_bundle, publish

    bad = build_bundle(models_dir / "bundles", BundleSpec(version="20260202T000000Z"))
    (bad / "ranker.onnx").write_bytes(b"not a model")
    publish(models_dir, bad)
    res = client.post("/v1/admin/reload", headers=ADMIN).json()
    assert res["swapped"] is False and res["bundle_version"] == spec.version and res["error"]
    assert client.get("/v1/recommendations/u1").json()["model_version"] == spec.version


def test_redis_killed_while_requests_are_in_flight(make_settings, published, redis_server, spec):
    import threading

    import httpx

    from serving.app import create_app
    from tests.serving.conftest import LiveServer

    app = create_app(make_settings(LAMBDAREC_LOCAL_CACHE_TTL_S=0, LAMBDAREC_CACHE_TTL_S=0))
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    with LiveServer(app) as live:

        def hammer(n: int) -> None:
            with httpx.Client(base_url=live.url, timeout=10) as h:
                while not stop.is_set():
                    try:
                        resp = h.get(f"/v1/recommendations/u{1 + n % 3}", params={"k": 5})
                        results.append((resp.status_code, resp.json()["degraded"]))
                    except BaseException as e:  # noqa: BLE001 - asserted below
                        errors.append(e)

        threads = [threading.Thread(target=hammer, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        redis_server.stop()
        time.sleep(0.5)
        redis_server.start()
        time.sleep(0.6)
        stop.set()
        for t in threads:
            t.join(timeout=10)
        with httpx.Client(base_url=live.url) as h:
            final = h.get("/v1/recommendations/u1", params={"k": 5}).json()
    assert not errors and results
    assert {code for code, _ in results} == {200}
    assert any(d for _, d in results) and not all(d for _, d in results)
    assert final["degraded"] is False
