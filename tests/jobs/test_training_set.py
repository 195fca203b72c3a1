"""jobs.training_set: point-in-time correctness of the historical join (no future leaks), on both
engines, and the Spark as-of join's file equal to the Feast engine's (rows, values, types).

The as-of tests build the full set (``item_views=True``: the item-side views too), so the join is
checked on views of both entities; the job's default file is that set's user-side columns."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.training_set import build_training_set, build_training_set_spark, main, write_training_set
from tests.feature_repo.feast_testdata import feast_apply, settings_for, write_standard_dataset


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (user, item, rating, type, event_ts, is_positive)
INTERACTIONS = [
    ("u1", "i1", 5.0, "rating", ts("2023-12-31T12:00"), True),  # before --start: excluded
    ("u1", "i1", 4.0, "rating", ts("2024-01-01T10:00"), True),  # before any snapshot
    ("u1", "i2", 2.0, "rating", ts("2024-01-02T12:00"), False),  # sees ds=01-01 (stamped 01-02 00:00)
    ("u2", "i2", None, "click", ts("2024-01-02T23:59:59"), True),
    ("u1", "i1", None, "view", ts("2024-01-03T00:00"), False),  # exactly the ds=01-02 snapshot time
    ("u1", "i2", 3.0, "rating", ts("2024-01-04T08:00"), False),  # after --ds: excluded
]


def write_interactions(data_dir: Path) -> None:
    marts = data_dir / "marts"
    marts.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        INTERACTIONS, columns=["user_id", "item_id", "rating", "event_type", "event_ts", "is_positive"]
    )
    frame.insert(0, "interaction_id", [f"x{i}" for i in range(len(frame))])
    frame["event_date"] = frame["event_ts"].dt.date
    frame.to_parquet(marts / "fct_interactions.parquet", index=False)


@pytest.fixture(scope="module")
def repo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("feast-pit")
    write_standard_dataset(data_dir)
    write_interactions(data_dir)
    feast_apply(settings_for(data_dir, "redis://127.0.0.1:1/0"))
    return data_dir


def _nullish(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


ITEM_SIDE = ("item_stats__", "item_text_embedding__", "item_realtime__")


def _build(
    engine: str, data_dir: Path, spark, ds: date = date(2024, 1, 3), item_views: bool = True
) -> pd.DataFrame:
    settings = settings_for(data_dir, "redis://127.0.0.1:1/0")
    if engine == "feast":
        return build_training_set(settings, ds, date(2024, 1, 1), item_views=item_views)
    target, rows = build_training_set_spark(
        settings, ds, date(2024, 1, 1), spark=spark, item_views=item_views
    )
    frame = pd.read_parquet(target)
    assert rows == len(frame)
    return frame


@pytest.mark.parametrize("engine", ["feast", "spark"])
def test_point_in_time_join_never_sees_the_future(repo_data: Path, engine: str, spark) -> None:
    frame = _build(engine, repo_data, spark)
    assert list(frame["event_timestamp"]) == [
        ts("2024-01-01T10:00"),
        ts("2024-01-02T12:00"),
        ts("2024-01-02T23:59:59"),
        ts("2024-01-03T00:00"),
    ]
    assert list(frame["user_id"]) == ["u1", "u1", "u2", "u1"]
    assert list(frame["label"]) == [1, 0, 1, 0]
    n7d = list(frame["user_stats__n_interactions_7d"])
    # row 0: no snapshot existed yet; row 1: the later value (5) is stamped after it -> 3;
    # row 3: at exactly the ds=01-02 snapshot time the new value is visible
    assert _nullish(n7d[0]) and n7d[1:] == [3, 1, 5]
    assert str(frame["user_stats__n_interactions_7d"].dtype) == "Int64"
    assert _nullish(frame["item_stats__n_interactions_7d"][0])
    assert list(frame["item_stats__n_interactions_7d"][1:]) == [4, 4, 7]
    assert list(frame["user_stats__recent_items"][1]) == ["i1"]
    # embeddings are valid from 2023-12-01, before every interaction
    assert [list(v) for v in frame["item_text_embedding__embedding"]] == [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 0.5, 0.5, 0.0],
        [0.0, 0.5, 0.5, 0.0],
        [1.0, 0.0, 0.0, 0.0],
    ]
    # push-only views have no offline history yet: present and null
    assert frame["user_realtime__rt_n_events_1h"].isna().all()
    assert "item_realtime__rt_n_events_1h" in frame.columns


def test_cli_writes_the_partition(repo_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDAREC_DATA_DIR", str(repo_data))
    assert main(["--ds", "2024-01-02", "--start", "2024-01-01"]) == 0
    written = pd.read_parquet(repo_data / "training_sets" / "ds=2024-01-02" / "training_set.parquet")
    assert len(written) == 3
    assert {
        "user_id",
        "item_id",
        "event_timestamp",
        "rating",
        "event_type",
        "label",
        "user_stats__rating_mean",
        "user_stats__recent_items",
        "user_realtime__rt_n_events_1h",
    } <= set(written.columns)
    # the item side (the text embedding among it) is not repeated per interaction by default
    assert not [c for c in written.columns if c.startswith(ITEM_SIDE)]


@pytest.mark.parametrize("engine", ["feast", "spark"])
def test_default_set_is_the_user_side_of_the_full_set(repo_data: Path, engine: str, spark) -> None:
    full = _build(engine, repo_data, spark, item_views=True)
    user_side = [c for c in full.columns if not c.startswith(ITEM_SIDE)]
    assert len(user_side) < len(full.columns) and "user_stats__n_interactions_7d" in user_side
    pd.testing.assert_frame_equal(_build(engine, repo_data, spark, item_views=False), full[user_side])


def test_cli_refuses_an_empty_interval(repo_data: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LAMBDAREC_DATA_DIR", str(repo_data))
    assert main(["--ds", "2025-01-02", "--start", "2025-01-01"]) == 2
    assert "no interactions" in capsys.readouterr().err


@pytest.mark.parametrize("item_views", [True, False])
def test_spark_file_equals_the_feast_file(repo_data: Path, spark, item_views: bool) -> None:
    """Same rows in the same order, same values, same Parquet types, including the entity (u2 on
    its first interaction) that only has later rows in user_stats: Spark keeps it with nulls."""
    settings = settings_for(repo_data, "redis://127.0.0.1:1/0")
    d0, d1 = date(2024, 1, 1), date(2024, 1, 3)
    spark_path, _ = build_training_set_spark(settings, d1, d0, spark=spark, item_views=item_views)
    by_spark = pq.read_table(spark_path)
    feast_path = write_training_set(build_training_set(settings, d1, d0, item_views=item_views), settings, d1)
    by_feast = pq.read_table(feast_path)
    assert by_spark.schema.remove_metadata() == by_feast.schema.remove_metadata()
    assert by_spark.num_rows == by_feast.num_rows == 4
    pd.testing.assert_frame_equal(by_spark.to_pandas(), by_feast.to_pandas())


def test_entity_with_only_later_feature_rows_keeps_its_row(tmp_path: Path, spark) -> None:
    """u3 interacts before its first user_stats row exists: the row stays, its user features null,
    its item features present (Feast's Dask join would drop the row for every view)."""
    data_dir = tmp_path / "data"
    write_standard_dataset(data_dir)
    write_interactions(data_dir)
    marts = data_dir / "marts" / "fct_interactions.parquet"
    frame = pd.read_parquet(marts)
    extra = frame.iloc[[2]].assign(interaction_id="x-late", user_id="u2", event_ts=ts("2024-01-01T11:00"))
    pd.concat([frame, extra]).to_parquet(marts, index=False)
    feast_apply(settings_for(data_dir, "redis://127.0.0.1:1/0"))
    got = _build("spark", data_dir, spark)
    late = got[got["event_timestamp"] == ts("2024-01-01T11:00")]
    assert len(late) == 1 and late["user_id"].item() == "u2"
    assert _nullish(late["user_stats__n_interactions_7d"].item())
    assert [float(x) for x in late["item_text_embedding__embedding"].item()] == [0.0, 0.5, 0.5, 0.0]


def test_feature_rows_older_than_the_ttl_are_not_seen(tmp_path: Path, spark) -> None:
    """u1 interacts over a year after its last user_stats/item_stats rows (TTL 365 days): those
    views are null on that row, the embedding (TTL 0: no limit) is still seen; both engines agree."""
    data_dir = tmp_path / "data"
    write_standard_dataset(data_dir)
    write_interactions(data_dir)
    marts = data_dir / "marts" / "fct_interactions.parquet"
    frame = pd.read_parquet(marts)
    late = ts("2025-01-03T06:00")
    extra = frame.iloc[[1]].assign(interaction_id="x-year", event_ts=late, event_date=late.date())
    # a datetime in a pandas frame has microseconds; the mart's event_ts stays in nanoseconds
    both = pd.concat([frame, extra]).astype({"event_ts": "datetime64[ns, UTC]"})
    both.to_parquet(marts, index=False)
    settings = settings_for(data_dir, "redis://127.0.0.1:1/0")
    feast_apply(settings)
    spark_path, _ = build_training_set_spark(
        settings, date(2025, 1, 3), date(2024, 1, 1), spark=spark, item_views=True
    )
    by_spark = pq.read_table(spark_path).to_pandas()
    feast_frame = build_training_set(settings, date(2025, 1, 3), date(2024, 1, 1), item_views=True)
    by_feast = pq.read_table(write_training_set(feast_frame, settings, date(2025, 1, 3))).to_pandas()
    pd.testing.assert_frame_equal(by_spark, by_feast)
    row = by_spark[by_spark["event_timestamp"] == late]
    assert len(row) == 1 and row["user_id"].item() == "u1"
    assert _nullish(row["user_stats__n_interactions_7d"].item())
    assert _nullish(row["item_stats__n_interactions_7d"].item())
    assert [float(x) for x in row["item_text_embedding__embedding"].item()] == [1.0, 0.0, 0.0, 0.0]
    # the rows within a year still see their snapshots
    assert list(by_spark["user_stats__n_interactions_7d"][1:4]) == [3, 1, 5]


def test_shuffle_join_for_large_stamps_gives_the_feast_file(
    repo_data: Path, spark, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stamps too large to broadcast take a shuffle join and a sort by row: same file as Feast's."""
    import jobs.training_set_spark as join_module

    plans: list[str] = []
    original = join_module.point_in_time_ids

    def recorded(*args, **kwargs):
        joined = original(*args, **kwargs)
        plans.append(joined._jdf.queryExecution().executedPlan().toString())
        return joined

    monkeypatch.setattr(join_module, "BROADCAST_MAX_ENTITIES", 0)
    monkeypatch.setattr(join_module, "point_in_time_ids", recorded)
    before = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")  # Spark would broadcast tiny tables itself
    try:
        settings = settings_for(repo_data, "redis://127.0.0.1:1/0")
        spark_path, _ = build_training_set_spark(
            settings, date(2024, 1, 3), date(2024, 1, 1), spark=spark, item_views=True
        )
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", before)
    assert len(plans) == 1 and "SortMergeJoin" in plans[0] and "Broadcast" not in plans[0]
    by_spark = pq.read_table(spark_path)
    feast_frame = build_training_set(settings, date(2024, 1, 3), date(2024, 1, 1), item_views=True)
    by_feast = pq.read_table(write_training_set(feast_frame, settings, date(2024, 1, 3)))
    assert by_spark.schema.remove_metadata() == by_feast.schema.remove_metadata()
    pd.testing.assert_frame_equal(by_spark.to_pandas(), by_feast.to_pandas())
