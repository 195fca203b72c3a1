"""GET /v1/recommendations/{user}?explain=true: the trace comes from the request's own path.

The explained answer is the answer a normal request gets (same items, same scores), its trace
accounts for every served item (proposed by the generators it names, past the filters, scored),
it is admin-only, and it neither reads nor fills the response cache.
"""

from __future__ import annotations

import pytest

from serving.schemas import ExplainedRecommendationResponse
from testing_support.bundle_builder import BundleSpec
from tests.serving.conftest import ADMIN, AUTH, now_iso

pytestmark = pytest.mark.redis

GENERATORS = "item_cf,two_tower,because_you_liked,popular"


@pytest.fixture
def spec() -> BundleSpec:
    return BundleSpec(served=True, value_model_weights={"p_interaction": 1.0})


def like(c, user: str, item: str, eid: str) -> None:
    ev = {"event_id": eid, "user_id": user, "item_id": item, "type": "like", "value": None, "ts": now_iso()}
    assert c.post("/v1/events", json={"events": [ev]}, headers=AUTH).status_code == 202


def explain(c, user: str, **params) -> dict:
    resp = c.get(f"/v1/recommendations/{user}", params={**params, "explain": "true"}, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_trace_is_the_normal_answer_and_accounts_for_it(client_for, published):
    c = client_for(LAMBDAREC_GENERATORS=GENERATORS)
    like(c, "u1", "i1", "x1")
    body = explain(c, "u1", k=5)
    normal = c.get("/v1/recommendations/u1", params={"k": 5}).json()
    assert normal["cached"] is False  # the explained request did not fill the cache
    ExplainedRecommendationResponse.model_validate(body)
    assert "trace" not in normal
    assert body["items"] == normal["items"] and len(normal["items"]) == 5
    t = body["trace"]
    assert [(f["item_id"], f["position"], f["score"]) for f in t["final"]] == [
        (it["item_id"], n + 1, it["score"]) for n, it in enumerate(normal["items"])
    ]
    proposed = {g: {e["item_id"] for e in lst} for g, lst in t["generators"].items()}
    assert set(proposed) == set(GENERATORS.split(","))
    for it in normal["items"]:
        for g in it["source"].split("+"):
            assert it["item_id"] in proposed[g]  # the generators it names did propose it
    scored = {s["item_id"]: s for s in t["scored"]}
    assert [s["score"] for s in t["scored"]] == sorted((s["score"] for s in t["scored"]), reverse=True)
    for it in normal["items"]:
        s = scored[it["item_id"]]
        assert "+".join(s["sources"]) == it["source"]
        assert s["heads"]["p_interaction"] == pytest.approx(it["score"], abs=1e-5)  # value weight 1
        assert set(s["features"]) >= {"item_cf_score", "two_tower_score", "log_popularity"}
    # i1 is u1's own: popular proposes it, the seen filter removes it and says so.
    assert "i1" in proposed["popular"] and t["filters"]["seen"] == ["i1"]
    assert "i1" not in scored
    assert {"retrieve", "filter", "features", "score", "rank", "user_state"} <= set(t["timings_ms"])
    assert t["degraded"] == [] and t["diversity"] == [] and t["exploration"] == [] and t["boosts"] == []


def test_explained_requests_bypass_the_cache(client_for, published):
    c = client_for(LAMBDAREC_GENERATORS=GENERATORS)
    first = c.get("/v1/recommendations/u2", params={"k": 4}).json()
    assert c.get("/v1/recommendations/u2", params={"k": 4}).json()["cached"] is True
    body = explain(c, "u2", k=4)
    assert body["cached"] is False and body["trace"]["final"]
    assert body["items"] == first["items"]


def test_diversity_boost_and_exploration_moves_are_recorded(client_for, published):
    c = client_for(
        LAMBDAREC_GENERATORS="popular",
        LAMBDAREC_DIVERSITY_WINDOW=4,
        LAMBDAREC_DIVERSITY_MAX_PER_GENRE=1,
        LAMBDAREC_SOURCE_BOOSTS={"popular": 0.25},
        LAMBDAREC_EXPLORATION_SHARE=0.5,
    )
    t = explain(c, "stranger", k=4)["trace"]
    # Cold start keeps the generators' order (popular = catalogue order): i1 Action/Crime,
    # i2 Action/Thriller, i3 Action, i4 Comedy ... a cap of one Action in the first 4 moves i2 down.
    assert {"item_id": "i4", "from_position": 4, "to_position": 2} in t["diversity"]
    assert any(m["item_id"] == "i2" and m["to_position"] > 4 for m in t["diversity"])
    assert t["boosts"] and all(b["boost"] == pytest.approx(0.25) for b in t["boosts"])
    assert len(t["exploration"]) == 4  # int(4 * 0.5) = 2 slots swapped: 2 items in, 2 out
    page = [f["item_id"] for f in t["final"]]
    for m in t["exploration"]:
        assert (m["to_position"] <= 4) == (m["item_id"] in page)


def test_explain_needs_the_admin_key(client_for, published):
    c = client_for()
    assert c.get("/v1/recommendations/u1", params={"explain": "true"}).status_code == 401
    resp = c.get("/v1/recommendations/u1", params={"explain": "true"}, headers=AUTH)
    assert resp.status_code == 403 and "explain=true needs the admin key" in resp.json()["detail"]
    assert c.get("/v1/recommendations/u1", params={"explain": "false"}).status_code == 200
