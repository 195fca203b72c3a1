"""Partition writer (idempotent, one partition only) and input validation of the feature jobs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.features.compute import FeatureJobArgs, main, parse_args
from jobs.features.io import InputValidationError, Marts, check_mart_files, validate_marts, write_partition

D1, D2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)


def _data_files(partition: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in partition.iterdir() if p.name.endswith(".parquet")}


def _rows(partition: Path) -> list[tuple]:
    table = pq.read_table(partition)
    return sorted(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))


@pytest.mark.spark
def test_writer_replaces_exactly_one_partition(spark, tmp_path):
    table_dir = tmp_path / "features" / "user_features"
    first = spark.createDataFrame([("a", 1), ("b", 2)], "user_id string, n long")
    second = spark.createDataFrame([("c", 3), ("d", 4), ("e", 5)], "user_id string, n long")

    p1 = write_partition(first, table_dir, D1)
    other_before = _data_files(p1)
    p2 = write_partition(first, table_dir, D2)
    files_first_run = _data_files(p2)
    assert p2 == table_dir / "ds=2024-01-02"

    # Same input again: same rows, same number of files (replaced, not appended).
    write_partition(first, table_dir, D2)
    assert _rows(p2) == [("a", 1), ("b", 2)]
    assert len(_data_files(p2)) == len(files_first_run) == 1
    # Different input: the partition now holds exactly the new rows.
    write_partition(second, table_dir, D2)
    assert _rows(p2) == [("c", 3), ("d", 4), ("e", 5)]
    # The other partition is untouched (same files, same modification times), no staging left over.
    assert _data_files(p1) == other_before
    assert _rows(p1) == [("a", 1), ("b", 2)]
    assert sorted(p.name for p in table_dir.iterdir()) == ["ds=2024-01-01", "ds=2024-01-02"]
    # An empty snapshot (a day before any data) is still a readable partition with the schema.
    p3 = write_partition(first.limit(0), table_dir, dt.date(2024, 1, 3))
    assert pq.read_table(p3).num_rows == 0 and pq.read_table(p3).column_names == ["user_id", "n"]


@pytest.mark.spark
def test_failed_write_keeps_the_old_partition(spark, tmp_path):
    table_dir = tmp_path / "t"
    write_partition(spark.createDataFrame([("a", 1)], "user_id string, n long"), table_dir, D1)
    # A cast that fails at run time (ANSI mode) makes the Spark job fail mid-write.
    bad = spark.createDataFrame([("x",)], "s string").selectExpr("s as user_id", "cast(s as bigint) as n")
    with pytest.raises(Exception, match="(?i)cast"):
        write_partition(bad, table_dir, D1)
    assert _rows(table_dir / "ds=2024-01-01") == [("a", 1)]
    assert sorted(p.name for p in table_dir.iterdir()) == ["ds=2024-01-01"]


@pytest.mark.spark
def test_validation_lists_every_problem(spark, make_interactions, make_items):
    items = make_items([("i1", ["Drama"], 2000), ("i1", ["Drama"], 2000), (None, ["Drama"], 2000)])
    interactions = make_interactions(
        [
            ("u1", "i1", 4.0, "rating", "2024-01-01 00:00:00"),
            (None, "i1", None, "view", "2024-01-01 00:00:00"),
        ]
    )
    with pytest.raises(InputValidationError) as err:
        validate_marts(Marts(items=items, interactions=interactions))
    msg = str(err.value)
    assert "dim_items: 1 rows with null item_id" in msg
    assert "dim_items: 1 duplicate item_id rows" in msg
    assert "fct_interactions: 1 rows with null user_id" in msg
    assert "null item_id" not in msg.split("fct_interactions", 1)[1]

    empty = interactions.limit(0)
    with pytest.raises(InputValidationError, match="fct_interactions: empty"):
        validate_marts(Marts(items=items.where("item_id is not null").dropDuplicates(), interactions=empty))


def test_mart_files_are_checked_before_spark(tmp_path):
    marts = tmp_path / "marts"
    marts.mkdir()
    pq.write_table(pa.table({"item_id": ["i1"], "title": ["t"]}), marts / "dim_items.parquet")
    with pytest.raises(InputValidationError) as err:
        check_mart_files(marts)
    msg = str(err.value)
    assert (
        "dim_items.parquet: missing columns ['genres', 'year', 'tags', 'description', 'first_seen_ts']" in msg
    )
    assert "fct_interactions.parquet: missing (run dbt" in msg

    pq.write_table(
        pa.table({"item_id": ["i1"], "title": ["t"], "genres": ["Drama"], "year": [1], "tags": [""],
                  "description": [""], "first_seen_ts": pa.array([None], pa.timestamp("us", "UTC"))}),
        marts / "dim_items.parquet",
    )  # fmt: skip
    with pytest.raises(InputValidationError, match="genres is string, expected list<string>"):
        check_mart_files(marts)


def test_backfill_dates_are_anchored_on_ds():
    args = parse_args(["--ds", "2024-01-31", "--backfill-from", "2024-01-01", "--every", "7"])
    assert args.snapshot_dates() == [dt.date(2024, 1, d) for d in (3, 10, 17, 24, 31)]
    assert parse_args(["--ds", "2024-01-31"]).snapshot_dates() == [dt.date(2024, 1, 31)]
    assert parse_args(["--ds", "2024-01-31", "--tables", "item_features"]).tables == ("item_features",)
    assert FeatureJobArgs(ds=dt.date(2024, 1, 1)).tables == ("user_features", "item_features")


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--ds", "2024-13-01"], "ds:"),
        (["--ds", "2024-01-01", "--tables", "user_features,bogus"], "tables"),
        (["--ds", "2024-01-01", "--backfill-from", "2024-02-01"], "must not be after --ds"),
        (["--ds", "2024-01-01", "--every", "0"], "every"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "invalid arguments" in err and fragment in err


@pytest.mark.spark
def test_output_check_refuses_a_frame_off_contract(spark):
    from jobs.features.io import check_output
    from jobs.features.schemas import user_features_schema

    wrong = spark.createDataFrame([("u1", 1)], "user_id string, n_interactions_7d int")
    with pytest.raises(RuntimeError, match="user_features: output schema"):
        check_output(wrong, user_features_schema(), "user_features")
