"""The Spark materialization writes byte for byte what Feast's own materialize writes.

The same rows (nulls, NaN, empty lists, null list elements, unicode ids, negative and 9-byte
integers, an entity updated on day two, entities present in only one view) are materialized once
with ``--engine feast`` and once with ``--engine spark`` into two fresh redis-servers; the dumps
must be equal key by key and field by field, and so must ``get_online_features``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from feature_repo.feast_settings import open_store
from jobs.materialize import materialize, parse_utc
from lambdarec_contracts.redis_keys import FEATURES_VERSION
from tests.conftest import RedisServer, free_port
from tests.feature_repo.feast_testdata import (
    EMBEDDING_SCHEMA,
    ITEM_SCHEMA,
    USER_SCHEMA,
    dump_redis,
    feast_apply,
    feast_redis_key,
    item_row,
    settings_for,
    user_row,
    write_embeddings,
    write_partition,
)

pytestmark = pytest.mark.redis

DAY1 = (parse_utc("2024-01-01"), parse_utc("2024-01-02"))  # ds=2024-01-01
DAY2 = (parse_utc("2024-01-02"), parse_utc("2024-01-03"))  # ds=2024-01-02
BOTH = (DAY1[0], DAY2[1])
USERS = ["u1", "u2", "ü-3", "u4"]
ITEMS = ["i1", "i2", "i3"]


def _user(user_id: str, ds: str, n: int, **overrides) -> dict:
    return {**user_row(user_id, ds, n, 4.0, [f"i{n}", "i1"]), **overrides}


def write_edge_dataset(data_dir: Path) -> None:
    day1 = [
        _user("u1", "2024-01-01", 3),
        # Every nullable value null: ints, a NaN and a null double, null and empty lists.
        _user(
            "u2",
            "2024-01-01",
            1,
            n_interactions_7d=None,
            rating_mean=float("nan"),
            rating_std=None,
            genre_affinity=None,
            recent_items=None,
            recent_positive_items=[],
            last_active_ts=None,
        ),
        # Null elements inside lists, -0.0, a negative and a 9-byte integer, a non-ASCII id.
        _user(
            "ü-3",
            "2024-01-01",
            2,
            n_interactions_30d=-7,
            n_interactions_total=2**62 + 1,
            rating_mean=-0.0,
            genre_affinity=[0.1, None, 1e-30] + [0.0] * 17,
            recent_items=["i2", None, "é"],
        ),
    ]
    day2 = [_user("u1", "2024-01-02", 5, rating_std=0.125), _user("u4", "2024-01-02", 9)]
    write_partition(data_dir, "user_features", "2024-01-01", day1, USER_SCHEMA)
    write_partition(data_dir, "user_features", "2024-01-02", day2, USER_SCHEMA)
    write_partition(
        data_dir,
        "item_features",
        "2024-01-01",
        [
            item_row("i1", "2024-01-01", 2, ["Drama"], 1995),
            {**item_row("i2", "2024-01-01", 0, [], 0), "year": None},
        ],
        ITEM_SCHEMA,
    )
    write_partition(
        data_dir,
        "item_features",
        "2024-01-02",
        [item_row("i1", "2024-01-02", 7, ["Drama", None], 1995)],
        ITEM_SCHEMA,
    )
    when = datetime(2023, 12, 1, 12, 30, 15, 250, tzinfo=UTC)  # microseconds must survive
    write_embeddings(
        data_dir,
        [
            {"item_id": "i1", "event_timestamp": when, "embedding": [1.0, -0.5, 0.0, 3.25],
             "embedding_model": "m", "content_hash": "h1"},
            {"item_id": "i2", "event_timestamp": when, "embedding": None, "embedding_model": "",
             "content_hash": None},
            {"item_id": "i3", "event_timestamp": when, "embedding": [], "embedding_model": "m",
             "content_hash": "h3"},
        ],
    )  # fmt: skip
    assert EMBEDDING_SCHEMA.field("embedding").type == pa.list_(pa.float32())


@pytest.fixture(scope="module")
def edge_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("feast-spark-parity")
    write_edge_dataset(data_dir)
    feast_apply(settings_for(data_dir, "redis://127.0.0.1:1/0"))
    return data_dir


@pytest.fixture
def two_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, RedisServer]]:
    servers = [RedisServer(port=free_port(), workdir=tmp_path_factory.mktemp("redis")) for _ in range(2)]
    for s in servers:
        s.start()
    try:
        yield servers[0], servers[1]
    finally:
        for s in servers:
            s.stop()


def _online(settings) -> dict[str, list]:
    store = open_store(settings)
    users = store.get_online_features(
        features=[f"user_stats:{f.name}" for f in store.get_feature_view("user_stats").features],
        entity_rows=[{"user_id": u} for u in [*USERS, "nobody"]],
        full_feature_names=True,
    ).to_dict()
    items = store.get_online_features(
        features=[f"item_stats:{f.name}" for f in store.get_feature_view("item_stats").features]
        + [f"item_text_embedding:{f.name}" for f in store.get_feature_view("item_text_embedding").features],
        entity_rows=[{"item_id": i} for i in [*ITEMS, "nothing"]],
        full_feature_names=True,
    ).to_dict()
    return {**users, **items}


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _run_both(edge_data: Path, servers, intervals, spark) -> tuple[dict, dict]:
    feast_redis, spark_redis = servers
    for start, end in intervals:
        materialize(settings_for(edge_data, feast_redis.url), start, end, engine="feast")
        materialize(settings_for(edge_data, spark_redis.url), start, end, engine="spark", spark=spark)
    clients = [redis.Redis.from_url(r.url) for r in (feast_redis, spark_redis)]
    stamps = [c.get(FEATURES_VERSION) for c in clients]
    assert stamps[0] == stamps[1] == intervals[-1][1].isoformat().encode()
    for c in clients:
        c.delete(FEATURES_VERSION)  # dump_redis reads hashes only
    return dump_redis(clients[0]), dump_redis(clients[1])


def test_spark_writes_the_bytes_feast_writes(edge_data: Path, two_redis, spark) -> None:
    by_feast, by_spark = _run_both(edge_data, two_redis, [BOTH], spark)
    expected_keys = {feast_redis_key("user_id", u) for u in USERS} | {
        feast_redis_key("item_id", i) for i in ITEMS
    }
    assert set(by_feast) == expected_keys  # the comparison below is over real content
    assert set(by_spark) == expected_keys
    for key in sorted(expected_keys):
        assert by_spark[key] == by_feast[key], key
    # Nulls are stored as empty Values, not left out: the null-heavy user has every field.
    u2 = by_feast[feast_redis_key("user_id", "u2")]
    assert len(u2) == 10 and sum(v == b"" for v in u2.values()) == 6

    got_feast, got_spark = (
        _online(settings_for(edge_data, two_redis[0].url)),
        _online(settings_for(edge_data, two_redis[1].url)),
    )
    assert got_spark.keys() == got_feast.keys()
    for name in got_feast:
        assert _same(got_spark[name], got_feast[name]), name
    assert got_spark["user_stats__n_interactions_7d"] == [5, None, 2, 9, None]  # u1: day two wins
    assert got_spark["user_stats__n_interactions_total"][2] == 2**62 + 1
    assert got_spark["item_text_embedding__embedding"][:3] == [[1.0, -0.5, 0.0, 3.25], None, []]


def test_an_older_interval_after_a_newer_one_changes_nothing_either_way(
    edge_data: Path, two_redis, spark
) -> None:
    by_feast, by_spark = _run_both(edge_data, two_redis, [DAY2, DAY1, DAY2], spark)
    assert by_spark == by_feast
    u1 = redis.Redis.from_url(two_redis[1].url)
    got = (
        open_store(settings_for(edge_data, two_redis[1].url))
        .get_online_features(features=["user_stats:n_interactions_7d"], entity_rows=[{"user_id": "u1"}])
        .to_dict()
    )
    assert got["n_interactions_7d"] == [5]
    assert u1.dbsize() == len(by_feast)  # the stamp was deleted by _run_both


def test_rows_of_one_entity_in_many_spark_tasks_keep_the_latest(tmp_path: Path, redis_server, spark) -> None:
    """Many files (row groups spread over Spark tasks) with the same users at different times:
    the newest wins whatever task writes first."""
    data_dir = tmp_path / "data"
    part = write_partition(data_dir, "user_features", "2024-01-01", [], USER_SCHEMA)
    for k in (3, 5, 0, 4, 1, 2):  # file order is not time order
        rows = [
            _user(u, "2024-01-01", k, event_timestamp=datetime(2024, 1, 1, 12, k, tzinfo=UTC)) for u in USERS
        ]
        pq.write_table(pa.Table.from_pylist(rows, schema=USER_SCHEMA), part / f"part-{k:05d}.parquet")
    settings = settings_for(data_dir, redis_server.url)
    feast_apply(settings)
    # Six files of one row group each: six units of work, spread over the session's tasks.
    materialize(settings, *DAY1, views=["user_stats"], spark=spark)
    got = (
        open_store(settings)
        .get_online_features(
            features=["user_stats:n_interactions_7d"], entity_rows=[{"user_id": u} for u in USERS]
        )
        .to_dict()
    )
    assert got["n_interactions_7d"] == [5] * len(USERS)
