"""jobs.materialize: validated, idempotent materialization into a real Redis, read back via Feast."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from feature_repo.feast_settings import open_store
from jobs.materialize import MaterializeError, main, materialize, parse_utc, partitions_for_interval
from lambdarec_contracts.redis_keys import FEATURES_VERSION
from tests.feature_repo.feast_testdata import (
    dump_redis,
    feast_apply,
    feast_redis_key,
    settings_for,
    write_partition,
    write_standard_dataset,
)

pytestmark = pytest.mark.redis

START, END = parse_utc("2024-01-01"), parse_utc("2024-01-03")  # snapshots ds=2024-01-01 and 2024-01-02


@pytest.fixture(scope="module")
def repo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir + SQLite registry, applied once for the module (feast apply takes seconds)."""
    data_dir = tmp_path_factory.mktemp("feast-data")
    write_standard_dataset(data_dir)
    # The registry does not depend on Redis; any URL will do for apply.
    feast_apply(settings_for(data_dir, "redis://127.0.0.1:1/0"))
    return data_dir


def test_partitions_for_interval_follow_the_snapshot_convention() -> None:
    # ds=D is stamped D+1 00:00, so Airflow's interval of ds=D is (D, D+1]
    assert [d.isoformat() for d in partitions_for_interval(START, END)] == ["2024-01-01", "2024-01-02"]
    assert [
        d.isoformat() for d in partitions_for_interval(parse_utc("2024-01-05T06:00"), END.replace(day=7))
    ] == [
        "2024-01-05",
        "2024-01-06",
    ]
    with pytest.raises(MaterializeError):
        partitions_for_interval(parse_utc("2024-01-05T01:00"), parse_utc("2024-01-05T23:00"))


def test_materialize_then_online_read_latest_wins(repo_data: Path, redis_server, spark) -> None:
    settings = settings_for(repo_data, redis_server.url)
    materialize(settings, START, END, spark=spark)
    store = open_store(settings)
    got = store.get_online_features(
        features=[
            "user_stats:n_interactions_7d",
            "user_stats:n_interactions_total",
            "user_stats:rating_mean",
            "user_stats:recent_items",
            "user_stats:genre_affinity",
        ],
        entity_rows=[{"user_id": "u1"}, {"user_id": "u2"}, {"user_id": "nobody"}],
    ).to_dict()
    # u1 changed on day two (n=5): the later snapshot wins; u2 only has day one (n=1)
    assert got["n_interactions_7d"] == [5, 1, None]
    assert got["n_interactions_total"] == [50, 10, None]
    assert got["rating_mean"] == [4.5, 2.0, None]
    assert got["recent_items"] == [["i2", "i1"], ["i2"], None]
    assert got["genre_affinity"][0][5] == pytest.approx(0.25) and sum(
        got["genre_affinity"][0]
    ) == pytest.approx(0.25)

    items = store.get_online_features(
        features=[
            "item_stats:n_interactions_30d",
            "item_stats:genres",
            "item_stats:year",
            "item_text_embedding:embedding",
            "item_text_embedding:embedding_model",
        ],
        entity_rows=[{"item_id": "i1"}, {"item_id": "i2"}],
        full_feature_names=True,
    ).to_dict()
    assert items["item_stats__n_interactions_30d"] == [21, 12]
    assert items["item_stats__genres"] == [["Drama"], ["Comedy"]]
    assert items["item_stats__year"] == [1995, 0]
    assert items["item_text_embedding__embedding"] == [[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]]
    assert items["item_text_embedding__embedding_model"] == ["test-model", "test-model"]


def test_redis_layout_matches_readme(repo_data: Path, redis_server, spark) -> None:
    """The serving fast path: key = serialized entity key + project, field = mmh3("view:feature")."""
    from feast.infra.online_stores.helpers import _mmh3

    materialize(settings_for(repo_data, redis_server.url), START, END, spark=spark)
    client = redis.Redis.from_url(redis_server.url)
    assert sorted(client.keys()) == sorted(
        [
            *(
                feast_redis_key(k, v)
                for k, v in [("user_id", "u1"), ("user_id", "u2"), ("item_id", "i1"), ("item_id", "i2")]
            ),
            FEATURES_VERSION.encode(),  # the stamp serving polls to re-read its in-memory item features
        ]
    )
    assert client.get(FEATURES_VERSION) == END.isoformat().encode()
    raw = client.hget(feast_redis_key("user_id", "u1"), _mmh3("user_stats:n_interactions_7d"))
    value = ValueProto()
    value.ParseFromString(raw)
    assert value.int64_val == 5
    ts = client.hget(feast_redis_key("user_id", "u1"), "_ts:user_stats")
    from google.protobuf.timestamp_pb2 import Timestamp

    parsed = Timestamp()
    parsed.ParseFromString(ts)
    assert parsed.seconds == int(parse_utc("2024-01-03").timestamp())


def test_rematerializing_the_same_interval_changes_nothing(repo_data: Path, redis_server, spark) -> None:
    settings = settings_for(repo_data, redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    materialize(settings, START, END, spark=spark)
    stamp = client.get(FEATURES_VERSION)
    client.delete(FEATURES_VERSION)  # dump_redis reads hashes only
    first = dump_redis(client)
    assert len(first) == 4 and all(first.values())
    materialize(settings, START, END, spark=spark)
    assert client.get(FEATURES_VERSION) == stamp  # same interval, same stamp: serving reloads nothing
    client.delete(FEATURES_VERSION)
    assert dump_redis(client) == first


def test_missing_partition_is_refused_and_redis_untouched(repo_data: Path, redis_server, capsys) -> None:
    settings = settings_for(repo_data, redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    # ds=2024-01-03 was never written
    with pytest.raises(MaterializeError, match=r"user_stats: partition .*ds=2024-01-03 is missing"):
        materialize(settings, START, parse_utc("2024-01-04"))
    assert client.dbsize() == 0


def test_invalid_partition_is_refused_with_exit_code(
    tmp_path: Path, redis_server, monkeypatch, capsys
) -> None:
    data_dir = tmp_path / "data"
    write_standard_dataset(data_dir)
    # A partition missing a contract column and with a null user id
    bad = pa.table(
        {
            "user_id": pa.array(["u1", None], pa.string()),
            "event_timestamp": pa.array([parse_utc("2024-01-03")] * 2, pa.timestamp("us", tz="UTC")),
        }
    )
    part = write_partition(data_dir, "user_features", "2024-01-02", [], pa.schema([("user_id", pa.string())]))
    pq.write_table(bad, part / "part-00000.parquet")
    monkeypatch.setenv("LAMBDAREC_DATA_DIR", str(data_dir))
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    rc = main(["--start", "2024-01-01", "--end", "2024-01-03"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "missing column 'n_interactions_7d'" in err and "Traceback" not in err
    assert redis.Redis.from_url(redis_server.url).dbsize() == 0
