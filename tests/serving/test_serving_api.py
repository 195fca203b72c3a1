"""The API end to end against a real Redis: endpoints, bad input, auth, events, cache, generators."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lambdarec_contracts import redis_keys
from lambdarec_contracts.events import stream_fields_to_record
from testing_support.bundle_builder import BundleSpec, expected_query, expected_scores
from tests.serving.conftest import ADMIN, AUTH, now_iso, wait_for_stream
from tests.serving.feast_layout import write_entity

pytestmark = pytest.mark.redis


def ev(eid: str, user: str, item: str, type_: str = "like", value: float | None = None) -> dict:
    return {
        "event_id": eid,
        "user_id": user,
        "item_id": item,
        "type": type_,
        "value": value,
        "ts": now_iso(),
    }


def ranked(spec: BundleSpec, q: np.ndarray, items: list[str]) -> list[str]:
    scores = expected_scores(spec, q, items)
    return sorted(items, key=lambda i: -scores[i])


def test_two_tower_ranking_matches_hand_computed_order(client_for, published, spec):
    c = client_for(LAMBDAREC_GENERATORS="two_tower")
    body = c.get("/v1/recommendations/u1", params={"k": 12}).json()
    assert body["degraded"] is False and body["model_version"] == spec.version
    q = expected_query(spec, "u1", [])
    expect = ranked(spec, q, list(spec.items))
    assert [it["item_id"] for it in body["items"]] == expect
    scores = expected_scores(spec, q, list(spec.items))
    for it in body["items"]:
        assert it["score"] == pytest.approx(scores[it["item_id"]], abs=1e-5)
        assert it["source"] == "two_tower"
        assert it["title"] == f"{spec.items[it['item_id']]['title']} ({spec.items[it['item_id']]['year']})"


def test_events_read_your_writes_history_filters_and_cache(client_for, published, spec, r):
    c = client_for(LAMBDAREC_GENERATORS="two_tower,because_you_liked")
    first = c.get("/v1/recommendations/u1", params={"k": 5}).json()
    again = c.get("/v1/recommendations/u1", params={"k": 5}).json()
    assert (first["cached"], again["cached"]) == (False, True)
    assert again["items"] == first["items"] and again["request_id"] != first["request_id"]

    resp = c.post(
        "/v1/events",
        json={"events": [ev("e-1", "u1", "i1"), ev("e-2", "u1", "i6", "not_interested")]},
        headers=AUTH,
    )
    assert resp.status_code == 202 and resp.json() == {"accepted": 2, "duplicates": 0}
    after = c.get("/v1/recommendations/u1", params={"k": 12}).json()
    assert after["cached"] is False  # the events bumped the cache generation
    ids = [it["item_id"] for it in after["items"]]
    assert "i1" not in ids and "i6" not in ids  # seen and not interested are filtered
    # The query tower now sees i1 in the history: q = U[u1] + E[i1].
    q = expected_query(spec, "u1", ["i1"])
    rest = [i for i in spec.items if i not in ("i1", "i6")]
    assert ids == ranked(spec, q, rest)
    reasons = {it["item_id"]: it["reason"] for it in after["items"]}
    for nb in ("i10", "i2", "i3"):  # neighbours of i1 (collab: i10, i2; text: i3)
        assert reasons[nb] == "Because you liked Heat (1995)"
    assert [b.decode() for b in r.zrange(redis_keys.seen_items("u1"), 0, -1)] == ["i1"]
    assert [b.decode() for b in r.zrange(redis_keys.not_interested("u1"), 0, -1)] == ["i6"]
    assert [b.decode() for b in r.lrange(redis_keys.recent_items("u1"), 0, -1)] == ["i1"]

    # Idempotent: the same ids again are duplicates, nothing new on the stream.
    n_before = r.xlen(redis_keys.EVENTS_STREAM)
    dup = c.post("/v1/events", json={"events": [ev("e-1", "u1", "i1")]}, headers=AUTH)
    assert dup.json() == {"accepted": 0, "duplicates": 1}
    assert r.xlen(redis_keys.EVENTS_STREAM) == n_before
    events = [stream_fields_to_record(f) for _, f in r.xrange(redis_keys.EVENTS_STREAM)]
    assert [(e["event_id"], e["type"], e["item_known"]) for e in events] == [
        ("e-1", "like", True),
        ("e-2", "not_interested", True),
    ]
    # 5 + 5 + 10 items served so far, each logged with its position and variant (written by the
    # impression writer's thread within a few ms of the response).
    assert wait_for_stream(r, redis_keys.IMPRESSIONS_STREAM, 20)
    impressions = [stream_fields_to_record(f) for _, f in r.xrange(redis_keys.IMPRESSIONS_STREAM)]
    assert len(impressions) == 20
    assert [i["position"] for i in impressions[:5]] == [0, 1, 2, 3, 4]
    assert {i["variant"] for i in impressions} == {"default"}


def test_cold_start_popular_in_preferred_genres(client_for, published):
    c = client_for()
    body = c.get("/v1/recommendations/stranger", params={"k": 4, "genres": "Drama"}).json()
    assert body["degraded"] is False
    # popular.json by_genre Drama = i8, i9, i10 (catalogue order), then overall popular.
    assert [(it["item_id"], it["reason"]) for it in body["items"]] == [
        ("i8", "Popular in Drama"),
        ("i9", "Popular in Drama"),
        ("i10", "Popular in Drama"),
        ("i1", "Popular with everyone"),
    ]
    plain = c.get("/v1/recommendations/stranger", params={"k": 3}).json()
    assert [it["item_id"] for it in plain["items"]] == ["i1", "i2", "i3"]


def test_trending_generator_windows(client_for, published, r):
    c = client_for(LAMBDAREC_GENERATORS="trending")
    now_h = int(time.time() // 3600)
    r.zadd(redis_keys.trending(now_h), {"i9": 5, "i7": 3, "not-in-catalogue": 50})
    r.zadd(redis_keys.trending(now_h - 2), {"i7": 4})
    r.zadd(redis_keys.trending(now_h - 30), {"i11": 100})
    body = c.get("/v1/recommendations/anon1", params={"k": 5}).json()
    # last 24h: i7 = 3 + 4 = 7 > i9 = 5; i11 is older; unknown items are dropped
    assert [(it["item_id"], it["reason"]) for it in body["items"]] == [
        ("i7", "Trending today"),
        ("i9", "Trending today"),
    ]
    r.delete(redis_keys.trending(now_h), redis_keys.trending(now_h - 2))
    body = c.get("/v1/recommendations/anon2", params={"k": 5}).json()
    assert [(it["item_id"], it["reason"]) for it in body["items"]] == [("i11", "Trending this week")]


def test_trending_list_is_cached_for_its_ttl(client_for, published, r):
    c = client_for(LAMBDAREC_GENERATORS="trending", LAMBDAREC_TRENDING_CACHE_S=600)
    now_h = int(time.time() // 3600)
    r.zadd(redis_keys.trending(now_h), {"i9": 5, "i7": 3})
    first = c.get("/v1/recommendations/anon1", params={"k": 5}).json()
    assert [it["item_id"] for it in first["items"]] == ["i9", "i7"]
    r.zadd(redis_keys.trending(now_h), {"i7": 10})  # i7 overtakes, but the cached union is reused
    second = c.get("/v1/recommendations/anon2", params={"k": 5}).json()
    assert [it["item_id"] for it in second["items"]] == ["i9", "i7"]


def test_because_you_liked_from_feast_features(client_for, published, spec, r):
    c = client_for(LAMBDAREC_GENERATORS="because_you_liked")
    write_entity(
        r, "user_id", "u2", "user_stats", {"recent_positive_items": ["i4", "i7"], "n_interactions_total": 3}
    )
    body = c.get("/v1/recommendations/u2", params={"k": 5}).json()
    # i4 -> i5 (collab); i7 -> i8 (text). Order is the ranker's: q = U[u2] (no history, Wu = 0).
    expect = ranked(spec, expected_query(spec, "u2", []), ["i5", "i8"])
    reasons = {"i5": "Because you liked Airplane (1980)", "i8": "Because you liked Alien (1979)"}
    assert [(it["item_id"], it["reason"], it["source"]) for it in body["items"]] == [
        (i, reasons[i], "because_you_liked") for i in expect
    ]


def test_request_filters_and_pagination(client_for, published, spec):
    c = client_for(LAMBDAREC_GENERATORS="two_tower")
    q = expected_query(spec, "u3", [])
    all_ids = ranked(spec, q, list(spec.items))
    p1 = c.get("/v1/recommendations/u3", params={"k": 4}).json()["items"]
    p2 = c.get("/v1/recommendations/u3", params={"k": 4, "offset": 4}).json()["items"]
    assert [it["item_id"] for it in p1 + p2] == all_ids[:8]
    body = c.get(
        "/v1/recommendations/u3", params={"k": 12, "exclude": "i1,i2", "exclude_genres": "Comedy"}
    ).json()
    expect = [i for i in all_ids if i not in ("i1", "i2") and "Comedy" not in spec.items[i]["genres"]]
    assert [it["item_id"] for it in body["items"]] == expect


def test_unavailable_items_are_never_served(client_for, models_dir, make_settings):
    from testing_support.bundle_builder import build_bundle, publish

    spec = BundleSpec(extra_vocab_items=["gone"])
    e, u = spec.arrays()
    e[-1] = u[1] * 10  # "gone" is u1's best ANN match but not in the catalogue
    spec.item_embeddings = e
    publish(models_dir, build_bundle(models_dir / "bundles", spec))
    c = client_for(LAMBDAREC_GENERATORS="two_tower")
    ids = [it["item_id"] for it in c.get("/v1/recommendations/u1", params={"k": 20}).json()["items"]]
    assert "gone" not in ids and len(ids) == 12
    metrics = c.get("/metrics").text
    assert 'lambdarec_filter_dropped_total{filter="unavailable"} 1.0' in metrics


def test_similar_items(client, spec):
    body = client.get("/v1/items/i1/similar", params={"k": 3}).json()
    assert [(it["item_id"], it["source"]) for it in body["items"]] == [
        ("i10", "similar_collab"),
        ("i2", "similar_collab"),
        ("i3", "similar_text"),
    ]
    assert body["items"][0]["reason"] == "Similar to Heat (1995)"
    # i9 has no neighbour lists: nearest item embeddings by inner product.
    e, _ = spec.arrays()
    vocab = spec.item_vocab()
    dots = {i: float(e[vocab.index(i)] @ e[vocab.index("i9")]) for i in spec.items if i != "i9"}
    expect = sorted(dots, key=lambda i: -dots[i])[:4]
    got = client.get("/v1/items/i9/similar", params={"k": 4}).json()["items"]
    assert [it["item_id"] for it in got] == expect and {it["source"] for it in got} == {"similar_embedding"}
    assert client.get("/v1/items/nope/similar").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/v1/recommendations/u1?k=0",
        "/v1/recommendations/u1?k=101",
        "/v1/recommendations/u1?offset=-1",
        "/v1/recommendations/bad%20id!",
        "/v1/recommendations/u1?genres=Cartoons",
        "/v1/recommendations/u1?exclude=a%20b",
        "/v1/items/i1/similar?k=500",
    ],
)
def test_bad_query_input_is_422_with_message(client, url):
    resp = client.get(url)
    assert resp.status_code == 422
    assert resp.json()["detail"].startswith("invalid request") or "unknown genre" in resp.json()["detail"]


@pytest.mark.parametrize(
    "events, fragment",
    [
        ([ev("e1", "u1", "i1", "purchase")], "type"),
        ([ev("e1", "u 1", "i1")], "user_id"),
        ([ev("e1", "u1", "i1", "rating", 11.0)], "value"),
        ([ev(f"e{n}", "u1", "i1") for n in range(501)], "at most 500"),
        ([], "at least 1"),
    ],
)
def test_bad_events_are_422_with_message(client, events, fragment):
    resp = client.post("/v1/events", json={"events": events}, headers=AUTH)
    assert resp.status_code == 422 and fragment in resp.json()["detail"]
    assert 'lambdarec_events_total{result="rejected"} 1.0' in client.get("/metrics").text


def test_auth_on_write_and_admin_endpoints(client):
    body = {"events": [ev("e1", "u1", "i1")]}
    assert client.post("/v1/events", json=body).status_code == 401
    wrong = client.post("/v1/events", json=body, headers={"X-API-Key": "wrong-key-123456"})
    assert wrong.status_code == 403 and wrong.json()["detail"] == "invalid API key"
    assert client.post("/v1/admin/reload").status_code == 401
    # The write key a client app holds does not open admin endpoints; the admin key does.
    assert client.post("/v1/admin/reload", headers=AUTH).status_code == 403
    ok = client.post("/v1/admin/reload", headers=ADMIN)
    assert ok.status_code == 200 and ok.json()["swapped"] is True


def test_health_readiness_metrics_openapi(client, spec):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["bundle_version"] == spec.version
    client.get("/v1/recommendations/u1")
    text = client.get("/metrics").text
    assert f'lambdarec_bundle_info{{version="{spec.version}"}} 1.0' in text
    assert 'lambdarec_http_request_duration_seconds_count{endpoint="/v1/recommendations/{user_id}"' in text
    assert 'lambdarec_stage_duration_seconds_count{stage="score"} 1.0' in text
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/recommendations/{user_id}",
        "/v1/items/{item_id}/similar",
        "/v1/events",
        "/v1/admin/reload",
    } <= set(paths)


def test_slow_generator_is_cut_off_and_response_degrades(client_for, published, monkeypatch):
    from serving.pipeline import generators
    from serving.pipeline.candidates import Proposal

    def slow(ctx):
        # In-memory work that runs away: 1 s of this thread's CPU (the timeout counts CPU time,
        # not waits for the GIL or a core under load).
        t0 = time.thread_time()
        while time.thread_time() - t0 < 1.0:
            pass
        return Proposal.empty()

    monkeypatch.setitem(generators.GENERATORS, "slow", slow)
    c = client_for(LAMBDAREC_GENERATORS="slow,popular", LAMBDAREC_GENERATOR_TIMEOUT_MS=100)
    t = time.perf_counter()
    body = c.get("/v1/recommendations/u1", params={"k": 3}).json()  # warm: cold start skips "slow"
    elapsed = time.perf_counter() - t
    assert body["degraded"] is True and body["degraded_reasons"] == ["generator_timeout:slow"]
    assert len(body["items"]) == 3 and {it["source"] for it in body["items"]} == {"popular"}
    print(f"request with a timed-out generator took {elapsed * 1000:.0f} ms")


def test_another_worker_answers_from_the_redis_entry_and_events_still_invalidate(client_for, published, r):
    # The Redis entry is written after the response (a background write on the event loop) and
    # read by a worker whose in-process cache is empty; the user's events make it unreachable.
    a, b = client_for(), client_for()
    first = a.get("/v1/recommendations/u1", params={"k": 4}).json()
    deadline = time.monotonic() + 5
    while not r.keys("lambdarec:rec:*:u1:*") and time.monotonic() < deadline:
        time.sleep(0.01)
    second = b.get("/v1/recommendations/u1", params={"k": 4}).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["items"] == first["items"]
    resp = a.post(
        "/v1/events", json={"events": [ev("e-9", "u1", first["items"][0]["item_id"])]}, headers=AUTH
    )
    assert resp.status_code == 202
    third = b.get("/v1/recommendations/u1", params={"k": 4}).json()
    assert third["cached"] is False and first["items"][0]["item_id"] not in [
        it["item_id"] for it in third["items"]
    ]
