"""GET /v1/users/{user}/why-not/{item}: every outcome on a fixed bundle, with its stage and evidence.

The bundle has the served-candidate ranker (p_interaction = sigmoid(item_cf_score + 0.01 *
log_popularity), value weight 1) and item-to-item weights chosen so the order is known by hand:
u1 likes i1 and i4, so item_cf scores i10 0.9, i5 0.7, i6 0.6, i2 0.5 (nothing else).
Diversity caps each genre at 1 over the first 3 slots: i6 (Comedy, like i5) gives way to i2.
"""

from __future__ import annotations

import math

import pytest

from testing_support.bundle_builder import BundleSpec, expected_query
from tests.serving.conftest import ADMIN, AUTH, now_iso

pytestmark = pytest.mark.redis


@pytest.fixture
def spec() -> BundleSpec:
    return BundleSpec(
        served=True,
        value_model_weights={"p_interaction": 1.0},
        item_cf={"i1": {"i10": 0.9, "i2": 0.5}, "i4": {"i5": 0.7, "i6": 0.6}},
        extra_vocab_items=["gone"],
    )


@pytest.fixture
def c(client_for, published):
    client = client_for(
        LAMBDAREC_GENERATORS="item_cf,two_tower",
        LAMBDAREC_CANDIDATES_PER_GENERATOR=4,
        LAMBDAREC_DIVERSITY_WINDOW=3,
        LAMBDAREC_DIVERSITY_MAX_PER_GENRE=1,
    )
    events = [
        {"event_id": f"w{n}", "user_id": "u1", "item_id": i, "type": t, "value": None, "ts": now_iso()}
        for n, (i, t) in enumerate([("i1", "like"), ("i4", "like"), ("i3", "not_interested")])
    ]
    assert client.post("/v1/events", json={"events": events}, headers=AUTH).status_code == 202
    return client


def why(c, item: str, k: int = 3) -> dict:
    resp = c.get(f"/v1/users/u1/why-not/{item}", params={"k": k}, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["user_id"] == "u1" and body["item_id"] == item and body["sentence"].endswith(".")
    return body


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_served_with_its_position(c):
    a = why(c, "i2")  # third by diversity (pushed up from fourth)
    assert (a["outcome"], a["stage"]) == ("served", "rank")
    assert a["evidence"]["position"] == 3 and a["evidence"]["score"] == pytest.approx(sig(0.5), abs=1e-5)
    assert "item_cf" in a["evidence"]["sources"]
    assert why(c, "i10")["evidence"]["position"] == 1


@pytest.mark.parametrize(
    ("item", "rule"), [("i1", "seen"), ("i4", "seen"), ("i3", "not_interested"), ("gone", "unavailable")]
)
def test_filtered_names_the_rule(c, item, rule):
    a = why(c, item)
    assert (a["outcome"], a["stage"], a["evidence"]["rule"]) == ("filtered", "filter", rule)


def test_never_retrieved_gives_its_rank_under_each_generator(c, spec):
    # Two-tower over the whole catalogue (the vocabulary minus OOV and u1's history), by hand.
    item_emb, _ = spec.arrays()
    vocab = spec.item_vocab()
    q = expected_query(spec, "u1", ["i4", "i1"])
    scores = {x: float(item_emb[r] @ q) for r, x in enumerate(vocab) if r and x not in ("i1", "i4")}
    tt_order = sorted(scores, key=lambda x: -scores[x])
    cf = {"i10", "i5", "i6", "i2"}
    item = [x for x in tt_order if x in spec.items and x not in cf and x != "i3"][-1]
    rank = tt_order.index(item) + 1
    assert rank > 4  # outside two-tower's top 4, and item_cf never scores it
    a = why(c, item)
    assert (a["outcome"], a["stage"]) == ("never_retrieved", "retrieve")
    gens = a["evidence"]["generators"]
    assert gens["two_tower"]["rank"] == rank and gens["two_tower"]["cutoff"] == 4
    assert gens["two_tower"]["score"] == pytest.approx(scores[item], abs=1e-4)
    assert gens["item_cf"]["rank"] is None
    assert f"best rank is {rank} under two_tower" in a["sentence"]


def test_scored_too_low_against_the_cutoff(c):
    a = why(c, "i5", k=1)
    assert (a["outcome"], a["stage"]) == ("scored_too_low", "score")
    ev = a["evidence"]
    assert ev["position"] == 2 and ev["cutoff_position"] == 1
    assert ev["score"] == pytest.approx(sig(0.7), abs=1e-5)
    assert ev["cutoff_score"] == pytest.approx(sig(0.9), abs=1e-5)
    assert ev["heads"]["p_interaction"] == pytest.approx(sig(0.7), abs=1e-5)


def test_pushed_out_by_diversity(c):
    a = why(c, "i6")
    assert (a["outcome"], a["stage"]) == ("diversity", "rank")
    ev = a["evidence"]
    assert (ev["position_by_score"], ev["position_after_diversity"]) == (3, 4)
    assert (ev["max_per_genre"], ev["window"]) == (1, 3)


def test_unknown_item_is_an_answer_not_a_404(c):
    a = why(c, "no-such-item")
    assert (a["outcome"], a["stage"]) == ("unknown_item", "catalogue")


def test_why_not_needs_the_admin_key(c):
    assert c.get("/v1/users/u1/why-not/i2").status_code == 401
    assert c.get("/v1/users/u1/why-not/i2", headers=AUTH).status_code == 403


def test_answers_agree_with_the_explained_trace(c):
    """Every item of the catalogue gets one outcome, consistent with the explained request."""
    body = c.get("/v1/recommendations/u1", params={"k": 3, "explain": "true"}, headers=ADMIN).json()
    final = [f["item_id"] for f in body["trace"]["final"]]
    assert final == ["i10", "i5", "i2"]
    filtered = {i for ids in body["trace"]["filters"].values() for i in ids}
    outcomes = {i: why(c, i)["outcome"] for i in [*(f"i{n}" for n in range(1, 13)), "gone"]}
    assert {i for i, o in outcomes.items() if o == "served"} == set(final)
    assert filtered <= {i for i, o in outcomes.items() if o == "filtered"}
    assert "unknown_item" not in outcomes.values()
