"""Deterministic A/B assignment and its exposure in responses and impressions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lambdarec_contracts import redis_keys
from lambdarec_contracts.events import stream_fields_to_record
from serving.experiments import ExperimentsConfig, assign, load_experiments, unit_hash
from testing_support.bundle_builder import pinned_experiment
from tests.serving.conftest import API_KEY, now_iso, wait_for_stream


def config(traffic: float = 1.0, weights: tuple[float, float] = (0.5, 0.5)) -> ExperimentsConfig:
    return ExperimentsConfig.model_validate(
        {
            "experiments": [
                {
                    "name": "exp1",
                    "traffic": traffic,
                    "variants": [
                        {"name": "control", "weight": weights[0]},
                        {"name": "treatment", "weight": weights[1]},
                    ],
                }
            ]
        }
    )


def test_unit_hash_is_sha256_of_experiment_and_user():
    expect = int(hashlib.sha256(b"exp1:user-42").hexdigest()[:16], 16) / 2**64
    assert unit_hash("user-42", "exp1") == expect


def test_same_user_same_variant_and_split_matches():
    cfg = config(weights=(0.3, 0.7))
    ids = [f"user{n}" for n in range(10_000)]
    first = [assign(cfg, u).variant.name for u in ids]
    assert first == [assign(cfg, u).variant.name for u in ids]
    share = first.count("control") / len(ids)
    assert 0.28 < share < 0.32


def test_traffic_share_leaves_others_in_default():
    cfg = config(traffic=0.2)
    names = [assign(cfg, f"user{n}").variant.name for n in range(10_000)]
    assert 0.18 < 1 - names.count("default") / len(names) < 0.22
    assert 0.08 < names.count("control") / len(names) < 0.12


def test_load_experiments_yaml_and_bad_files(tmp_path: Path):
    good = tmp_path / "e.yaml"
    good.write_text("experiments:\n  - name: x\n    variants:\n      - {name: a, weight: 1}\n")
    assert load_experiments(good).experiments[0].variants[0].name == "a"
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments:\n  - name: x\n    variants: []\n")
    assert load_experiments(bad).experiments == []
    assert load_experiments(tmp_path / "missing.yaml").experiments == []
    shipped = load_experiments(Path(__file__).resolve().parents[2] / "serving" / "experiments.yaml")
    assert shipped.experiments and shipped.experiments[0].enabled


@pytest.mark.redis
def test_variant_overrides_and_impressions(client_for, published, spec, tmp_path, r):
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "experiments:\n  - name: gens\n    variants:\n"
        "      - {name: tower, weight: 1, generators: [two_tower]}\n"
        "      - {name: popular_only, weight: 1, generators: [popular]}\n"
    )
    c = client_for(LAMBDAREC_EXPERIMENTS_FILE=str(exp))
    cfg = load_experiments(exp)
    for user in ("u1", "u2", "u3"):
        body = c.get(f"/v1/recommendations/{user}", params={"k": 3}).json()
        want = assign(cfg, user).variant.name
        assert body["variant"] == want and body["experiment"] == "gens"
        assert {it["source"] for it in body["items"]} == {"two_tower" if want == "tower" else "popular"}
    assert wait_for_stream(r, redis_keys.IMPRESSIONS_STREAM, 9)
    imps = [stream_fields_to_record(f) for _, f in r.xrange(redis_keys.IMPRESSIONS_STREAM)]
    assert len(imps) == 9
    for imp in imps:
        assert imp["kind"] == "impression" and imp["variant"] == assign(cfg, imp["user_id"]).variant.name
        assert imp["experiment"] == "gens" and imp["model_version"] == spec.version


@pytest.mark.redis
def test_clicks_are_counted_per_variant(client_for, published, tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "experiments:\n  - name: ctr\n    variants:\n"
        "      - {name: a, weight: 1}\n      - {name: b, weight: 1}\n"
    )
    c = client_for(LAMBDAREC_EXPERIMENTS_FILE=str(exp))
    cfg = load_experiments(exp)
    users = [f"u{i}" for i in range(12)]
    events = [
        {
            "event_id": f"e{i}-{kind}",
            "user_id": u,
            "item_id": "i1",
            "type": kind,
            "ts": now_iso(),
        }
        for i, u in enumerate(users)
        for kind in ("click", "like", "view")
    ]
    events.append(dict(events[0]))  # a duplicate is not counted twice
    resp = c.post("/v1/events", json={"events": events}, headers={"X-API-Key": API_KEY})
    assert resp.status_code == 202
    expected = {"a": 0, "b": 0}
    for u in users:
        expected[assign(cfg, u).variant.name] += 2  # click + like; views are not clicks
    assert 0 < expected["a"] < 24  # both variants present among these users
    text = c.get("/metrics").text
    for variant, n in expected.items():
        assert f'lambdarec_clicks_total{{variant="{variant}"}} {float(n)}' in text


@pytest.mark.redis
def test_a_pinned_bundle_variant_is_served_off_the_event_loop(
    client_for, published, spec, models_dir, tmp_path
):
    exp = tmp_path / "exp.yaml"
    old = pinned_experiment(models_dir / "bundles", exp)
    c = client_for(LAMBDAREC_EXPERIMENTS_FILE=str(exp))
    cfg = load_experiments(exp)
    users = [f"u{n}" for n in range(12)]
    assert {assign(cfg, u).variant.name for u in users} == {"old", "current"}
    for user in users:
        pinned = assign(cfg, user).variant.name == "old"
        # Loading a pinned bundle takes disk reads and ONNX sessions: never on the event loop.
        assert c.app.state.recommender.runs_inline(user) is not pinned
        body = c.get(f"/v1/recommendations/{user}", params={"k": 3}).json()
        assert body["model_version"] == (old.version if pinned else spec.version)
        assert body["degraded"] is False and len(body["items"]) == 3
