"""The serving fast path reads Feast's Redis layout exactly as Feast's SDK does."""

from __future__ import annotations

import math
import random
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mmh3
import pandas as pd
import pytest
import redis

from lambdarec_contracts.feature_vectors import ITEM_VECTOR_FEATURE_REFS
from lambdarec_contracts.features import (
    FEAST_PROJECT,
    ITEM_FEATURES,
    ITEM_JOIN_KEY,
    ITEM_REALTIME_FEATURES,
    ITEM_REALTIME_VIEW,
    ITEM_STATS_VIEW,
    USER_FEATURES,
    USER_JOIN_KEY,
    USER_REALTIME_FEATURES,
    USER_REALTIME_VIEW,
    USER_STATS_VIEW,
)
from lambdarec_contracts.tables import GENRES
from serving.online_features import OnlineFeatureReader, decode_value, murmur3_32
from serving.user_state import USER_FEATURE_REFS


@pytest.mark.parametrize(
    "key", ["", "a", "ab", "abc", "abcd", "item_stats:genres", "user_stats:genre_affinity", "ünï"]
)
def test_murmur3_matches_mmh3(key):
    assert murmur3_32(key.encode()) == mmh3.hash(key, signed=False)


def test_value_decoder_matches_feast_protobufs():
    from feast.protos.feast.types import Value_pb2 as V

    cases = [
        (V.Value(int64_val=-42), -42),
        (V.Value(int64_val=2**40), 2**40),
        (V.Value(int32_val=-7), -7),
        (V.Value(double_val=3.25), 3.25),
        (V.Value(float_val=0.1), struct.unpack("<f", struct.pack("<f", 0.1))[0]),
        (V.Value(string_val="Heat"), "Heat"),
        (V.Value(bool_val=True), True),
        (V.Value(string_list_val=V.StringList(val=["a", "", "ç"])), ["a", "", "ç"]),
        (V.Value(float_list_val=V.FloatList(val=[0.5, -1.25])), [0.5, -1.25]),
        (V.Value(float_list_val=V.FloatList(val=[])), []),
        (V.Value(int64_list_val=V.Int64List(val=[1, -2, 300])), [1, -2, 300]),
        (V.Value(double_list_val=V.DoubleList(val=[1e-3, 2.5])), [1e-3, 2.5]),
        (V.Value(), None),
    ]
    for proto, want in cases:
        assert decode_value(proto.SerializeToString()) == want
    assert decode_value(None) is None


def _views(tmp: Path):
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Array, Float32, Float64, Int64, String

    types = {
        "int64": Int64,
        "float64": Float64,
        "string": String,
        "array<float32>": Array(Float32),
        "array<string>": Array(String),
    }
    user = Entity(name="user", join_keys=[USER_JOIN_KEY], value_type=ValueType.STRING)
    item = Entity(name="item", join_keys=[ITEM_JOIN_KEY], value_type=ValueType.STRING)

    def fv(name: str, entity: Entity, cols: dict[str, str]) -> FeatureView:
        src = FileSource(
            name=f"{name}_src", path=str(tmp / f"{name}.parquet"), timestamp_field="event_timestamp"
        )
        return FeatureView(
            name=name,
            entities=[entity],
            ttl=timedelta(days=365),
            schema=[Field(name=k, dtype=types[v]) for k, v in cols.items()],
            source=src,
            online=True,
        )

    views = {
        USER_STATS_VIEW: fv(USER_STATS_VIEW, user, USER_FEATURES),
        USER_REALTIME_VIEW: fv(USER_REALTIME_VIEW, user, USER_REALTIME_FEATURES),
        ITEM_STATS_VIEW: fv(ITEM_STATS_VIEW, item, ITEM_FEATURES),
        ITEM_REALTIME_VIEW: fv(ITEM_REALTIME_VIEW, item, ITEM_REALTIME_FEATURES),
    }
    return [user, item], views


def _applied_store(tmp: Path, redis_port: int):
    """A Feast store (local registry, this test's Redis) with the contract's views applied."""
    from feast import FeatureStore, RepoConfig
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig

    entities, views = _views(tmp)
    cfg = RepoConfig(
        project=FEAST_PROJECT,
        provider="local",
        registry=str(tmp / "registry.db"),
        online_store=RedisOnlineStoreConfig(connection_string=f"127.0.0.1:{redis_port}"),
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=cfg, repo_path=str(tmp))
    store.apply([*entities, *views.values()])
    return store


def _value(kind: str, rng: random.Random):
    if kind == "int64":
        return rng.randint(-5, 10**6)
    if kind == "float64":
        return rng.uniform(-3, 5)
    if kind == "string":
        return f"s{rng.randint(0, 99)}"
    if kind == "array<float32>":
        return [rng.uniform(0, 1) for _ in range(len(GENRES))] if rng.random() > 0.1 else []
    return [f"i{rng.randint(1, 500)}" for _ in range(rng.randint(0, 5))]  # array<string>


def _frame(ids: list[str], key: str, cols: dict[str, str], rng: random.Random) -> pd.DataFrame:
    now = datetime.now(UTC)
    rows = [{key: i, "event_timestamp": now, **{c: _value(k, rng) for c, k in cols.items()}} for i in ids]
    return pd.DataFrame(rows)


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and (a == b or (math.isnan(a) and math.isnan(b)))
    return a == b


@pytest.mark.redis
@pytest.mark.slow
def test_fast_path_equals_get_online_features(tmp_path, redis_server):
    store = _applied_store(tmp_path, redis_server.port)
    rng = random.Random(3)
    users = [f"u{n}" for n in range(250)]
    items = [f"i{n}" for n in range(250)]
    # Some entities exist in one view only, some in none (last 40 of each: missing entirely).
    store.write_to_online_store(USER_STATS_VIEW, _frame(users[:210], USER_JOIN_KEY, USER_FEATURES, rng))
    store.write_to_online_store(
        USER_REALTIME_VIEW, _frame(users[100:200], USER_JOIN_KEY, USER_REALTIME_FEATURES, rng)
    )
    store.write_to_online_store(ITEM_STATS_VIEW, _frame(items[:210], ITEM_JOIN_KEY, ITEM_FEATURES, rng))
    store.write_to_online_store(
        ITEM_REALTIME_VIEW, _frame(items[50:150], ITEM_JOIN_KEY, ITEM_REALTIME_FEATURES, rng)
    )

    r = redis.Redis(port=redis_server.port)
    for key, ids, refs in (
        (USER_JOIN_KEY, users, USER_FEATURE_REFS),
        (ITEM_JOIN_KEY, items, ITEM_VECTOR_FEATURE_REFS),
    ):
        reader = OnlineFeatureReader(FEAST_PROJECT, key, refs)
        with r.pipeline(transaction=False) as p:
            reader.queue(p, ids)
            fast = reader.decode(p.execute())
        assert reader.decode(reader.fetch_lua(r, ids)) == fast  # the one-call path reads the same
        sdk = store.get_online_features(
            features=refs, entity_rows=[{key: i} for i in ids], full_feature_names=True
        ).to_dict()
        for n, eid in enumerate(ids):
            for name, got in fast[n].items():
                assert _same(got, sdk[name][n]), (eid, name, got, sdk[name][n])
        # The comparison is not vacuous: values, lists and missing entities all occur.
        assert sum(v is None for row in fast for v in row.values()) > 0
        assert any(isinstance(v, list) and v for row in fast for v in row.values())
        assert any(isinstance(v, float) for row in fast for v in row.values())
    r.close()


@pytest.mark.redis
@pytest.mark.slow
def test_in_memory_item_features_equal_get_online_features(tmp_path, redis_server):
    """600 catalogue items, 520 written by Feast (80 missing entirely): serving's in-memory matrix
    holds exactly item_vector(get_online_features(...)) for every item, zeros for missing ones."""
    import numpy as np

    from lambdarec_contracts.feature_vectors import item_vector
    from serving.bundle import load_bundle
    from serving.feature_sync import read_item_features
    from testing_support.bundle_builder import BundleSpec, build_bundle

    store = _applied_store(tmp_path, redis_server.port)
    rng = random.Random(5)
    items = [f"i{n}" for n in range(600)]
    store.write_to_online_store(ITEM_STATS_VIEW, _frame(items[:520], ITEM_JOIN_KEY, ITEM_FEATURES, rng))
    catalogue = {i: {"title": i, "genres": ["Drama"], "year": 2000} for i in items}
    bundle = load_bundle(
        build_bundle(
            tmp_path / "bundles", BundleSpec(items=catalogue, neighbours_collab={}, neighbours_text={})
        )
    )

    r = redis.Redis(port=redis_server.port)
    for fetch in ("lua", "pipeline"):
        feats = read_item_features(r, bundle, "v1", fetch=fetch, batch=128)
        sdk = store.get_online_features(
            features=ITEM_VECTOR_FEATURE_REFS,
            entity_rows=[{ITEM_JOIN_KEY: i} for i in items],
            full_feature_names=True,
        ).to_dict()
        for n, item in enumerate(items):
            want = item_vector({name: sdk[name][n] for name in sdk if name != ITEM_JOIN_KEY})
            p = bundle.position[item]
            assert np.array_equal(feats.matrix[p], want), item
            assert bool(feats.present[p]) == (n < 520), item
        assert feats.matrix[[bundle.position[i] for i in items[:520]]].any(axis=1).all()  # not vacuous
    r.close()
