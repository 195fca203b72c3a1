"""The served blend of current bundles: item_cf over the full history, the served-candidate ranker,
and the seen filter over the batch layer's history plus the speed layer's events."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from lambdarec_contracts import redis_keys, user_history
from lambdarec_contracts.ranker_features import RANKER_FEATURE_NAMES
from serving.bundle import load_bundle
from serving.pipeline.replay import offline_request
from testing_support.bundle_builder import SERVED_WF, BundleSpec, build_bundle
from tests.serving.conftest import AUTH

pytestmark = pytest.mark.redis


@pytest.fixture
def spec() -> BundleSpec:
    return BundleSpec(served=True)


def _expected_order(spec: BundleSpec, history: set[str]) -> list[str]:
    """sigmoid(Wf . x) by hand: Σ item_cf weights from the history, log1p(popularity).

    Only items with a non-zero logit: the order among equal scores is the generators' (not asserted).
    """
    cf: dict[str, float] = {}
    for h in history:
        for j, w in spec.item_cf.get(h, {}).items():
            cf[j] = cf.get(j, 0.0) + w
    wf = SERVED_WF[:, 0]
    logit = {
        i: wf[RANKER_FEATURE_NAMES.index("item_cf_score")] * cf.get(i, 0.0)
        + wf[RANKER_FEATURE_NAMES.index("log_popularity")] * np.log1p(spec.popularity.get(i, 0.0))
        for i in spec.items
        if i not in history
    }
    logit = {i: v for i, v in logit.items() if v > 0}
    return sorted(logit, key=lambda i: (-logit[i], list(spec.items).index(i)))


def test_batch_history_and_events_are_never_served_unless_asked(client_for, published, spec, r):
    c = client_for()
    r.set(redis_keys.user_history("u1"), user_history.encode(["i1", "i4", "i9"]))  # the batch layer's
    now = dt.datetime.now(dt.UTC).isoformat()
    event = {"event_id": "e-blend-1", "user_id": "u1", "item_id": "i7", "type": "view", "ts": now}
    assert c.post("/v1/events", json={"events": [event]}, headers=AUTH).status_code == 202
    body = c.get("/v1/recommendations/u1", params={"k": 12}).json()
    ids = [it["item_id"] for it in body["items"]]
    history = {"i1", "i4", "i9", "i7"}
    assert not history & set(ids), ids
    assert body["degraded"] is False
    # The ranker orders by item_cf over the whole history (i1 -> i10, i2; i4 -> i5, i6), then popularity.
    want = _expected_order(spec, history)
    assert ids[: len(want)] == want
    sources = {it["item_id"]: it["source"] for it in body["items"]}
    assert "item_cf" in sources["i10"] and "item_cf" in sources["i5"]
    # Asked for: items the user interacted with may come back (the popular list starts with i1).
    again = c.get("/v1/recommendations/u1", params={"k": 12, "include_seen": "true"}).json()
    assert history & {it["item_id"] for it in again["items"]}
    # Another user's history is theirs alone.
    other = [it["item_id"] for it in c.get("/v1/recommendations/u2", params={"k": 12}).json()["items"]]
    assert "i1" in other


def test_offline_replay_runs_the_same_pipeline_with_reasons(tmp_path, spec):
    bundle = load_bundle(build_bundle(tmp_path, spec))
    features = {"user_stats__recent_positive_items": ["i1"]}
    res = offline_request(bundle, "u1", {"i1"}, features, k=5, depth=5)
    assert res.item_ids[:4] == ["i10", "i2", "i9", "i3"]  # item_cf 0.9, 0.5; then popularity 50, 20
    assert res.item_ids[:4] == _expected_order(spec, {"i1"})
    assert "item_cf" in res.sources[0] and res.degraded == []
    # A user with no history: nothing for item_cf to say; the list is still served (cold start).
    cold = offline_request(bundle, "nobody", set(), {}, k=5, depth=5)
    assert len(cold.item_ids) == 5 and not any("item_cf" in s for s in cold.sources)
    # Unknown to the model's vocabulary but with a batch history: not a cold start for item_cf.
    stranger = offline_request(bundle, "stranger", {"i1"}, {}, k=5, depth=5)
    assert stranger.item_ids[:2] == ["i10", "i2"] and "item_cf" in stranger.sources[0]
