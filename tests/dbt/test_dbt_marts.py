"""The real `dbt build` on a hand-made landing data set: exported marts row by row, tests, artifacts."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dbt_harness import (
    DBT_PROJECT_DIR,
    DbtRun,
    dbt_build,
    sample_landed_events,
    ts,
    write_landed_events,
    write_sample_landing,
)

from lambdarec_contracts.tables import (
    DIM_ITEMS_COLUMNS,
    DIM_USERS_COLUMNS,
    FCT_INTERACTIONS_COLUMNS,
    GENRE_ALIASES,
    GENRES,
    MARTS,
)

pytestmark = pytest.mark.dbt


def iid(user_id: str, item_id: str, event_type: str, event_ts: datetime) -> str:
    """interaction_id as documented: md5 of user|item|type|UTC ISO-8601 time with microseconds."""
    key = f"{user_id}|{item_id}|{event_type}|{event_ts.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z"
    return hashlib.md5(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def good_build(
    tmp_path_factory: pytest.TempPathFactory, dbt_dirs: Path, foreign_cwd: Path
) -> tuple[Path, DbtRun]:
    data_dir = tmp_path_factory.mktemp("data")
    write_sample_landing(data_dir)
    # As the speed layer leaves an hour: a worker batch file, then compacted.parquet (which repeats
    # e1 with a later ingested_at), plus a hidden temporary file and a _SUCCESS marker to ignore.
    events = sample_landed_events()
    write_landed_events(data_dir, "2024-01-04", "10", [events[0], events[2]], "part-1-0_1-5.parquet")
    write_landed_events(data_dir, "2024-01-04", "10", events[1:], "compacted.parquet")
    hour_dir = data_dir / "events" / "landed" / "date=2024-01-04" / "hour=10"
    (hour_dir / "_SUCCESS").write_text("{}")
    (hour_dir / ".part-1-6_1-9.parquet.0a1b.tmp").write_bytes(b"half a file")
    run = dbt_build(data_dir, dbt_dirs, foreign_cwd)
    assert run.returncode == 0, run.output
    return data_dir, run


def read_mart(data_dir: Path, name: str) -> list[dict]:
    return pq.read_table(data_dir / "marts" / f"{name}.parquet").to_pylist()


def test_fct_interactions_rows(good_build: tuple[Path, DbtRun]) -> None:
    data_dir, _ = good_build
    t1, t2, t3 = ts("2024-01-01T10:00:00"), ts("2024-01-01T23:59:59.500000"), ts("2024-01-02T00:00:00")
    t4, t5, t6, t7 = (
        ts("2024-01-02T08:00:00"),
        ts("2024-01-03T00:00:00"),
        ts("2024-01-04T10:00:00"),
        ts("2024-01-04T10:30:00"),
    )
    cols = (
        "interaction_id",
        "user_id",
        "item_id",
        "rating",
        "event_type",
        "event_ts",
        "event_date",
        "is_positive",
    )
    expected = [
        # the landing's exact duplicate of the first row is gone
        (iid("u1", "1", "rating", t1), "u1", "1", 4.0, "rating", t1, date(2024, 1, 1), True),  # 4.0 counts
        (iid("u1", "2", "rating", t2), "u1", "2", 3.5, "rating", t2, date(2024, 1, 1), False),  # UTC date
        (iid("u2", "2", "view", t3), "u2", "2", None, "view", t3, date(2024, 1, 2), False),
        (iid("u2", "3", "rating", t4), "u2", "3", 5.0, "rating", t4, date(2024, 1, 2), True),
        (iid("u4", "3", "rating", t5), "u4", "3", 0.5, "rating", t5, date(2024, 1, 3), False),
        # landed events keep their id; e1 once despite two landings; e3 (unknown item 999) left out
        ("e1", "u5", "1", None, "like", t6, date(2024, 1, 4), True),
        ("e2", "u1", "3", 4.5, "rating", t7, date(2024, 1, 4), True),
    ]
    assert read_mart(data_dir, "fct_interactions") == [dict(zip(cols, row, strict=True)) for row in expected]


def test_dim_items_rows(good_build: tuple[Path, DbtRun]) -> None:
    data_dir, _ = good_build
    cols = ("item_id", "title", "genres", "year", "tags", "description", "first_seen_ts")
    expected = [
        (
            "1",
            "Toy Story",
            ["Animation", "Children", "Comedy"],
            1995,
            "pixar|toys",
            "Toys come alive.",
            ts("2024-01-01T10:00:00"),
        ),
        ("2", "Heat", ["Action", "Crime", "Thriller"], 1995, "", "", ts("2024-01-01T23:59:59.500000")),
        # year from the title suffix, which is removed; no genres -> (other); first seen = earliest of two
        ("3", "Unlabelled Film", ["(other)"], 2001, "", "", ts("2024-01-02T08:00:00")),
        # unknown genre -> (other), after the known ones; never interacted with
        ("4", "Space Thing", ["Sci-Fi", "(other)"], 2010, "", "", None),
    ]
    assert read_mart(data_dir, "dim_items") == [dict(zip(cols, row, strict=True)) for row in expected]


def test_dim_users_rows(good_build: tuple[Path, DbtRun]) -> None:
    data_dir, _ = good_build
    cols = (
        "user_id",
        "gender",
        "age",
        "occupation",
        "zip_code",
        "first_seen_ts",
        "last_seen_ts",
        "n_interactions",
    )
    expected = [
        # the event on unknown item 999 is not counted; the duplicate rating neither
        ("u1", "F", 25, "writer", "01234", ts("2024-01-01T10:00:00"), ts("2024-01-04T10:30:00"), 3),
        ("u2", "M", 40, None, None, ts("2024-01-02T00:00:00"), ts("2024-01-02T08:00:00"), 2),
        ("u3", "F", None, None, None, None, None, 0),  # known, never active
        (
            "u4",
            None,
            None,
            None,
            None,
            ts("2024-01-03T00:00:00"),
            ts("2024-01-03T00:00:00"),
            1,
        ),  # ratings only
        (
            "u5",
            None,
            None,
            None,
            None,
            ts("2024-01-04T10:00:00"),
            ts("2024-01-04T10:00:00"),
            1,
        ),  # events only
    ]
    assert read_mart(data_dir, "dim_users") == [dict(zip(cols, row, strict=True)) for row in expected]


ARROW_TYPE_NAMES = {
    "string": "string",
    "list<string>": "list<element: string>",
    "int32": "int32",
    "int64": "int64",
    "float64": "double",
    "bool": "bool",
    "date32": "date32[day]",
    "timestamp[us, UTC]": "timestamp[us, tz=UTC]",
}


@pytest.mark.parametrize(
    "name, columns",
    [
        ("dim_items", DIM_ITEMS_COLUMNS),
        ("dim_users", DIM_USERS_COLUMNS),
        ("fct_interactions", FCT_INTERACTIONS_COLUMNS),
    ],
)
def test_mart_files_have_exactly_the_contract_columns(
    good_build: tuple[Path, DbtRun], name: str, columns: dict[str, str]
) -> None:
    data_dir, _ = good_build
    schema = pq.read_schema(data_dir / "marts" / f"{name}.parquet")
    assert [(f.name, str(f.type)) for f in schema] == [(c, ARROW_TYPE_NAMES[k]) for c, k in columns.items()]


def test_export_manifest_counts_rows(good_build: tuple[Path, DbtRun]) -> None:
    data_dir, _ = good_build
    manifest = json.loads((data_dir / "marts" / "_export.json").read_text())
    assert {name: m["rows"] for name, m in manifest["marts"].items()} == {
        "dim_items": 4,
        "dim_users": 5,
        "fct_interactions": 7,
    }
    assert set(manifest["marts"]) == set(MARTS)
    # nothing half-written is left behind
    assert sorted(p.name for p in (data_dir / "marts").iterdir()) == [
        "_export.json",
        "dim_items.parquet",
        "dim_users.parquet",
        "fct_interactions.parquet",
    ]


def test_unit_tests_ran_and_passed(good_build: tuple[Path, DbtRun]) -> None:
    _, run = good_build
    unit = {
        r["unique_id"].split(".")[-1]: r["status"]
        for r in run.run_results()
        if r["unique_id"].startswith("unit_test.")
    }
    assert unit == {
        "test_stg_movielens__items_maps_genres_to_the_vocabulary": "pass",
        "test_stg_movielens__items_trims_and_parses_year_from_title": "pass",
        "test_stg_movielens__interactions_drops_exact_duplicates_only": "pass",
        "test_stg_speed_layer__events_keeps_first_landing_of_each_event": "pass",
        "test_fct_interactions_is_positive_and_event_keys": "pass",
        "test_fct_interactions_drops_forgotten_users_up_to_deletion": "pass",
        "test_stg_serving__tombstones_keeps_the_latest_deletion": "pass",
        "test_dim_items_first_seen_is_earliest_interaction": "pass",
        "test_dim_users_includes_users_seen_only_in_interactions": "pass",
    }


def test_duplicates_and_orphan_events_are_reported_as_warnings(good_build: tuple[Path, DbtRun]) -> None:
    _, run = good_build
    warned = {r["unique_id"].split(".")[2]: r["failures"] for r in run.run_results() if r["status"] == "warn"}
    assert warned == {
        "source_exact_duplicate_rows_movielens_interactions_": 1,  # one surplus copy dropped
        "relationships_stg_speed_layer__events_item_id__item_id__ref_stg_movielens__items_": 1,  # e3
    }
    assert "WARN=2" in run.output and "ERROR=0" in run.output
    # no project warnings (deprecations, unused config paths): only the two data warnings above
    assert "[WARNING]" not in run.output and "Deprecat" not in run.output


def test_nothing_is_written_to_the_working_directory(
    good_build: tuple[Path, DbtRun], foreign_cwd: Path
) -> None:
    assert list(foreign_cwd.iterdir()) == []


def test_genre_seeds_match_the_contracts() -> None:
    with open(DBT_PROJECT_DIR / "seeds" / "genres.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["genre"] for r in sorted(rows, key=lambda r: int(r["genre_position"]))] == list(GENRES)
    with open(DBT_PROJECT_DIR / "seeds" / "genre_aliases.csv", newline="") as f:
        assert {r["alias"]: r["genre"] for r in csv.DictReader(f)} == GENRE_ALIASES
