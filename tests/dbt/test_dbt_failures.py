"""Bad landing data makes `dbt build` fail before the marts are exported: the previous files stay."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from dbt_harness import (
    DbtRun,
    dbt_build,
    sample_interaction_parts,
    sample_items,
    sample_users,
    ts,
    write_landing,
    write_sample_landing,
)

pytestmark = pytest.mark.dbt

EXPORTED = ("dim_items.parquet", "dim_users.parquet", "fct_interactions.parquet", "_export.json")


def snapshot(marts_dir: Path) -> dict[str, tuple[str, int]]:
    """Content hash and mtime of every exported file."""
    return {
        name: (
            hashlib.sha256((marts_dir / name).read_bytes()).hexdigest(),
            (marts_dir / name).stat().st_mtime_ns,
        )
        for name in EXPORTED
    }


@pytest.fixture(scope="module")
def baseline(
    tmp_path_factory: pytest.TempPathFactory, dbt_dirs: Path, foreign_cwd: Path
) -> tuple[Path, DbtRun]:
    """A good build with no landed events at all (the speed layer has not run yet)."""
    data_dir = tmp_path_factory.mktemp("data")
    write_sample_landing(data_dir)
    run = dbt_build(data_dir, dbt_dirs, foreign_cwd)
    assert run.returncode == 0, run.output
    return data_dir, run


@pytest.fixture
def landing(baseline: tuple[Path, DbtRun]) -> Iterator[Path]:
    """The baseline's data dir; its landing files are restored after each corruption."""
    data_dir, _ = baseline
    yield data_dir
    write_sample_landing(data_dir)


def test_builds_when_no_events_have_landed(baseline: tuple[Path, DbtRun]) -> None:
    data_dir, _ = baseline
    assert not (data_dir / "events").exists()
    fct = pq.read_table(data_dir / "marts" / "fct_interactions.parquet")
    assert fct.num_rows == 5  # six landing rows, one exact duplicate
    assert fct.column("user_id").to_pylist() == ["u1", "u1", "u2", "u2", "u4"]
    users = pq.read_table(data_dir / "marts" / "dim_users.parquet").to_pylist()
    assert [(u["user_id"], u["n_interactions"]) for u in users] == [
        ("u1", 2),
        ("u2", 2),
        ("u3", 0),
        ("u4", 1),
    ]


def assert_failed_without_export(run: DbtRun, failing_test: str, data_dir: Path, before: dict) -> None:
    assert run.returncode != 0
    assert f"Failure in test {failing_test}" in run.output, run.output[-3000:]
    statuses = {r["unique_id"]: r["status"] for r in run.run_results()}
    assert statuses["model.lambdarec.export_marts"] == "skipped"
    assert snapshot(data_dir / "marts") == before


def test_duplicate_item_ids_fail_the_build(landing: Path, dbt_dirs: Path, foreign_cwd: Path) -> None:
    before = snapshot(landing / "marts")
    items = sample_items()
    items.append({**items[0], "title": "Toy Story (copy)"})
    write_landing(landing, items, sample_users(), sample_interaction_parts())
    run = dbt_build(landing, dbt_dirs, foreign_cwd)
    assert_failed_without_export(run, "unique_stg_movielens__items_item_id", landing, before)


def test_a_failing_mart_test_still_blocks_the_export(
    landing: Path, dbt_dirs: Path, foreign_cwd: Path
) -> None:
    """With the staging check switched off, dim_items is rebuilt with the duplicate, then its own test stops the export."""
    before = snapshot(landing / "marts")
    items = sample_items()
    items.append({**items[0], "title": "Toy Story (copy)"})
    write_landing(landing, items, sample_users(), sample_interaction_parts())
    run = dbt_build(landing, dbt_dirs, foreign_cwd, "--exclude", "unique_stg_movielens__items_item_id")
    assert_failed_without_export(run, "unique_dim_items_item_id", landing, before)
    with duckdb.connect(str(landing / "warehouse.duckdb"), read_only=True) as con:
        # the mart table itself was rebuilt (5 rows) before its test ran; only the export was held back
        assert con.sql("select count(*) from dim_items").fetchall() == [(5,)]


def test_null_user_key_fails_the_build(landing: Path, dbt_dirs: Path, foreign_cwd: Path) -> None:
    before = snapshot(landing / "marts")
    parts = sample_interaction_parts()
    parts[1].append(
        {
            "user_id": None,
            "item_id": "2",
            "rating": 3.0,
            "event_type": "rating",
            "event_ts": ts("2024-01-05T00:00:00"),
        }
    )
    write_landing(landing, sample_items(), sample_users(), parts)
    run = dbt_build(landing, dbt_dirs, foreign_cwd)
    assert_failed_without_export(run, "not_null_stg_movielens__interactions_user_id", landing, before)


def test_out_of_range_rating_fails_the_build(landing: Path, dbt_dirs: Path, foreign_cwd: Path) -> None:
    before = snapshot(landing / "marts")
    parts = sample_interaction_parts()
    parts[0][2] = {**parts[0][2], "rating": 7.5}
    write_landing(landing, sample_items(), sample_users(), parts)
    run = dbt_build(landing, dbt_dirs, foreign_cwd)
    assert_failed_without_export(
        run, "accepted_range_stg_movielens__interactions_rating__5__0_5", landing, before
    )
