"""DELETE /v1/users/{id}: the user leaves every online place at once and the marts at the next batch run.

The batch part runs the steps of ``build_features_daily`` that read the marts, as the DAG runs
them (not the whole DAG, for time): ``dbt build`` (tombstones honoured in fct_interactions and
dim_users), ``publish_history``, the Spark user features, and the training set's entity rows
(``jobs.training_set.entity_frame`` on the mart). Events reach the landing through the real
speed-layer worker (one pass); Feast's materialization is stood in for by writing the user's
hash in Feast's layout (``feast_layout``).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pandas as pd
import pytest
import redis

from jobs.publish_history import publish
from jobs.speed_layer.realtime import NullPusher
from jobs.speed_layer.worker import StreamWorker, WorkerConfig
from jobs.training_set import entity_frame
from lambdarec_contracts import redis_keys as rk
from lambdarec_contracts.user_state import UserStateLimits
from testing_support.bundle_builder import BundleSpec
from tests.dbt.dbt_harness import (
    dbt_build,
    sample_interaction_parts,
    sample_items,
    sample_users,
    write_landing,
)
from tests.jobs.test_features_cli import _run as run_features
from tests.serving.conftest import ADMIN, AUTH, now_iso
from tests.serving.feast_layout import write_entity

pytestmark = [pytest.mark.redis]


@pytest.fixture
def spec() -> BundleSpec:
    items = {
        i["item_id"]: {"title": i["title"].strip(), "genres": ["Drama"], "year": 1995} for i in sample_items()
    }
    return BundleSpec(items=items, users=["u1", "u2", "u3"], neighbours_collab={}, neighbours_text={})


def post(c, user: str, item: str, eid: str, type_: str = "like") -> None:
    ev = {"event_id": eid, "user_id": user, "item_id": item, "type": type_, "value": None, "ts": now_iso()}
    assert c.post("/v1/events", json={"events": [ev]}, headers=AUTH).status_code == 202


def user_keys(r: redis.Redis, user: str) -> list[bytes]:
    """Every key whose name holds the user id (Feast's binary entity key included)."""
    return sorted(k for k in r.scan_iter(count=1000) if user.encode() in k)


def land(r: redis.Redis, data_dir: Path) -> None:
    cfg = WorkerConfig(
        consumer="t",
        events_dir=data_dir / "events" / "landed",
        impressions_dir=data_dir / "events" / "impressions",
        batch=500,
        block_ms=10,
        limits=UserStateLimits(),
    )
    StreamWorker(r, NullPusher(), cfg).run(once=True)


def test_forget_invalidates_cached_lists_in_every_process(client_for, published, r):
    a = client_for(LAMBDAREC_LOCAL_CACHE_TTL_S=60)  # two serving processes sharing one Redis
    b = client_for(LAMBDAREC_LOCAL_CACHE_TTL_S=60)
    post(a, "u1", "1", "c1")
    assert a.get("/v1/recommendations/u1").json()["cached"] is False
    assert a.get("/v1/recommendations/u1").json()["cached"] is True
    assert r.keys(rk.rec_cache("*", "u1", "*"))  # the Redis copy of the list
    resp = b.delete("/v1/users/u1", headers=ADMIN)
    assert resp.status_code == 200 and resp.json()["tombstoned"] is True
    assert not r.keys(rk.rec_cache("*", "u1", "*"))
    body = a.get("/v1/recommendations/u1").json()  # a's in-process copy is stale at once
    assert body["cached"] is False and "1" in [it["item_id"] for it in body["items"]]  # no longer seen
    # The generation outlives every in-process copy (60 s + 10 % jitter + 1 s), then goes.
    assert 60_000 < r.pttl(rk.rec_cache_generation("u1")) <= 67_000


def test_events_in_the_stream_at_deletion_do_not_bring_the_user_back(client_for, published, r, tmp_path):
    c = client_for()
    post(c, "u3", "1", "s1")
    post(c, "u2", "1", "s2")
    assert c.delete("/v1/users/u3", headers=ADMIN).status_code == 200  # before the worker read them
    data_dir = tmp_path / "data"
    land(r, data_dir)
    assert user_keys(r, "u3") == [rk.rec_cache_generation("u3").encode()]  # expiring; nothing applied
    assert r.exists(rk.seen_items("u2"), rk.recent_items("u2")) == 2  # others are applied as usual
    assert all(r.zscore(rk.user_activity(h), "u3") is None for h in _hours())
    landed = pd.read_parquet(data_dir / "events" / "landed")
    assert sorted(landed.event_id) == ["s1", "s2"]  # landed all the same: dbt drops s1


def test_forget_needs_the_admin_key_and_is_idempotent(client_for, published, r):
    c = client_for()
    assert c.delete("/v1/users/u2").status_code == 401
    assert c.delete("/v1/users/u2", headers=AUTH).status_code == 403
    post(c, "u2", "2", "k1")
    first = c.delete("/v1/users/u2", headers=ADMIN).json()
    again = c.delete("/v1/users/u2", headers=ADMIN).json()
    assert first["removed_keys"] == 2 and first["tombstoned"] is True  # seen + recent (a like)
    assert again == {"user_id": "u2", "removed_keys": 0, "tombstoned": True}
    assert r.zscore(rk.TOMBSTONES, "u2") is not None


@pytest.mark.dbt
@pytest.mark.spark
@pytest.mark.slow
def test_forget_everywhere_and_at_the_next_batch_run(client_for, published, r, redis_server, tmp_path):
    data_dir = tmp_path / "data"
    write_landing(data_dir, sample_items(), sample_users(), sample_interaction_parts())
    c = client_for(LAMBDAREC_LOCAL_CACHE_TTL_S=0.2)
    post(c, "u1", "3", "f1")
    post(c, "u1", "4", "f2", "view")
    land(r, data_dir)  # the worker: seen / recent / activity in Redis, events landed as Parquet
    write_entity(r, "user_id", "u1", "user_stats", {"n_interactions_total": 4, "recent_items": ["1", "3"]})
    ds = dt.datetime.now(dt.UTC).date()
    dbt_dirs, cwd = tmp_path / "dbt", tmp_path / "cwd"
    cwd.mkdir()

    run = dbt_build(data_dir, dbt_dirs, cwd)
    assert run.returncode == 0, run.output[-3000:]
    publish(redis_server.url, data_dir / "marts" / "fct_interactions.parquet", ds)
    first = pd.read_parquet(data_dir / "marts" / "fct_interactions.parquet")
    others = sorted(first.loc[first.user_id != "u1", "interaction_id"])
    assert "u1" in set(first.user_id) and others
    listed = c.get("/v1/recommendations/u1").json()  # cached in-process and in Redis (60 s)
    assert listed["degraded"] is False and listed["items"] == [], listed  # u1 has seen all four items
    before = user_keys(r, "u1")
    names = {k.decode(errors="replace") for k in before}
    assert {rk.seen_items("u1"), rk.recent_items("u1"), rk.user_history("u1")} <= names
    assert len(before) >= 6  # + the Feast hash, the cached list, the cache generation

    resp = c.delete("/v1/users/u1", headers=ADMIN)
    assert (
        resp.status_code == 200 and resp.json()["removed_keys"] == len(before) - 1
    )  # all but the generation
    deadline = time.monotonic() + 10
    while user_keys(r, "u1") and time.monotonic() < deadline:  # the generation expires after ~1.2 s
        time.sleep(0.1)
    assert user_keys(r, "u1") == []
    assert all(r.zscore(rk.user_activity(h), "u1") is None for h in _hours())
    assert r.zscore(rk.TOMBSTONES, "u1") is not None

    # The next batch run: dbt honours the tombstone, so nothing downstream holds u1.
    time.sleep(0.01)
    post(c, "u1", "2", "f3")  # after the deletion: accepted, u1 comes back as a new user
    land(r, data_dir)
    run = dbt_build(data_dir, dbt_dirs, cwd)
    assert run.returncode == 0, run.output[-3000:]
    fct = pd.read_parquet(data_dir / "marts" / "fct_interactions.parquet")
    assert fct.loc[fct.user_id == "u1", "interaction_id"].tolist() == ["f3"]
    dim = pd.read_parquet(data_dir / "marts" / "dim_users.parquet").set_index("user_id")
    assert pd.isna(dim.loc["u1", "gender"]) and dim.loc["u2", "gender"] == "M"
    assert sorted(fct.loc[fct.user_id != "u1", "interaction_id"]) == others  # nobody else lost a row
    # The next training set's rows (Feast's entity frame): u1 only with the comeback event.
    rows = entity_frame(fct, dt.date(2024, 1, 1), ds)
    assert rows.loc[rows.user_id == "u1", "item_id"].tolist() == ["2"]
    assert len(rows.loc[rows.user_id == "u2"]) > 0

    proc = run_features(data_dir, "--ds", ds.isoformat(), "--tables", "user_features")
    assert proc.returncode == 0, proc.stderr[-3000:]
    feats = pd.read_parquet(data_dir / "features" / "user_features" / f"ds={ds}")
    u1 = feats.loc[feats.user_id == "u1"]
    assert len(u1) == 1 and u1.iloc[0]["n_interactions_total"] == 1  # only the comeback event
    assert list(u1.iloc[0]["recent_items"]) == ["2"]


def _hours() -> range:
    h = int(time.time()) // 3600
    return range(h - 2, h + 2)
