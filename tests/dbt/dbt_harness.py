"""Helpers for the dbt tests: hand-made landing Parquet files and a real `dbt build` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lambdarec_contracts.tables import (
    LANDED_EVENTS_COLUMNS,
    LANDING_INTERACTIONS_COLUMNS,
    LANDING_ITEMS_COLUMNS,
    LANDING_USERS_COLUMNS,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
# The dbt of the environment running the tests (the pipeline env).
DBT_BIN = Path(sys.executable).parent / "dbt"

_ARROW_TYPES = {
    "string": pa.string(),
    "int32": pa.int32(),
    "float64": pa.float64(),
    "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
}


def ts(text: str) -> datetime:
    """A UTC timestamp from ISO text (test data reads better as text)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schema_of(columns: dict[str, str]) -> pa.Schema:
    """The Arrow schema of one of the contracts' landing column dicts."""
    return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in columns.items()])


def write_table(path: Path, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
    """Write rows (dicts) as Parquet with exactly the contract's column names and types."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema_of(columns)), path)


def write_landing(
    data_dir: Path,
    items: list[dict[str, Any]],
    users: list[dict[str, Any]],
    interaction_parts: list[list[dict[str, Any]]],
) -> None:
    """The files jobs.ingest writes under landing/."""
    landing = data_dir / "landing"
    write_table(landing / "items.parquet", LANDING_ITEMS_COLUMNS, items)
    write_table(landing / "users.parquet", LANDING_USERS_COLUMNS, users)
    for i, part in enumerate(interaction_parts):
        write_table(landing / "interactions" / f"part-{i:05d}.parquet", LANDING_INTERACTIONS_COLUMNS, part)


def write_landed_events(
    data_dir: Path, date: str, hour: str, rows: list[dict[str, Any]], file_name: str
) -> None:
    """One file as the speed layer lands it (events/landed/date=…/hour=…/<file_name>)."""
    path = data_dir / "events" / "landed" / f"date={date}" / f"hour={hour}" / file_name
    write_table(path, LANDED_EVENTS_COLUMNS, rows)


@dataclass
class DbtRun:
    returncode: int
    output: str
    seconds: float
    target_dir: Path

    def run_results(self) -> list[dict[str, Any]]:
        return json.loads((self.target_dir / "run_results.json").read_text())["results"]


def dbt_build(data_dir: Path, dbt_dirs: Path, cwd: Path, *args: str) -> DbtRun:
    """Run the real `dbt build` the way the DAG does: from a foreign cwd, only env + two flags.

    target/ and logs/ go under ``dbt_dirs`` so tests never touch the repo's dbt/target (a shared
    target dir across one module's builds also lets dbt re-use its partial parse).
    """
    target_dir = dbt_dirs / "target"
    env = {
        **os.environ,
        "LAMBDAREC_DATA_DIR": str(data_dir),
        "DBT_TARGET_PATH": str(target_dir),
        "DBT_LOG_PATH": str(dbt_dirs / "logs"),
        "LAMBDAREC_DBT_THREADS": "2",
        "DBT_USE_COLORS": "false",
    }
    cmd = [
        str(DBT_BIN),
        "build",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        *args,
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    print(f"dbt build {' '.join(args)}: exit {proc.returncode} in {seconds:.1f}s")
    return DbtRun(proc.returncode, proc.stdout + proc.stderr, seconds, target_dir)


# --- the hand-made data set (expected marts are computed by hand in the tests) ---


def sample_items() -> list[dict[str, Any]]:
    return [
        {
            "item_id": "1",
            "title": "Toy Story",
            "genres": "Animation|Children's|Comedy",
            "year": 1995,
            "tags": "pixar|toys",
            "description": "Toys come alive.",
        },
        {
            "item_id": "2",
            "title": " Heat ",
            "genres": "Action|Crime|Thriller",
            "year": 1995,
            "tags": "",
            "description": "",
        },
        {
            "item_id": "3",
            "title": "Unlabelled Film (2001)",
            "genres": "",
            "year": None,
            "tags": "",
            "description": "",
        },
        {
            "item_id": "4",
            "title": "Space Thing",
            "genres": "Sci-Fi|Space Opera",
            "year": 2010,
            "tags": "",
            "description": "",
        },
    ]


def sample_users() -> list[dict[str, Any]]:
    return [
        {"user_id": "u1", "gender": "F", "age": 25, "occupation": "writer", "zip_code": "01234"},
        {"user_id": "u2", "gender": "M", "age": 40, "occupation": None, "zip_code": None},
        {"user_id": "u3", "gender": "F", "age": None, "occupation": None, "zip_code": None},
    ]


def sample_interaction_parts() -> list[list[dict[str, Any]]]:
    """Two part files; the first row is in the data twice (an exact duplicate)."""
    return [
        [
            {
                "user_id": "u1",
                "item_id": "1",
                "rating": 4.0,
                "event_type": "rating",
                "event_ts": ts("2024-01-01T10:00:00"),
            },
            {
                "user_id": "u1",
                "item_id": "1",
                "rating": 4.0,
                "event_type": "rating",
                "event_ts": ts("2024-01-01T10:00:00"),
            },
            {
                "user_id": "u1",
                "item_id": "2",
                "rating": 3.5,
                "event_type": "rating",
                "event_ts": ts("2024-01-01T23:59:59.500000"),
            },
        ],
        [
            {
                "user_id": "u2",
                "item_id": "2",
                "rating": None,
                "event_type": "view",
                "event_ts": ts("2024-01-02T00:00:00"),
            },
            {
                "user_id": "u2",
                "item_id": "3",
                "rating": 5.0,
                "event_type": "rating",
                "event_ts": ts("2024-01-02T08:00:00"),
            },
            {
                "user_id": "u4",
                "item_id": "3",
                "rating": 0.5,
                "event_type": "rating",
                "event_ts": ts("2024-01-03T00:00:00"),
            },
        ],
    ]


def sample_landed_events() -> list[dict[str, Any]]:
    """e1 landed twice (at-least-once delivery); e3 is on an item the catalogue does not know."""
    return [
        {
            "event_id": "e1",
            "user_id": "u5",
            "item_id": "1",
            "event_type": "like",
            "value": None,
            "event_ts": ts("2024-01-04T10:00:00"),
            "ingested_at": ts("2024-01-04T10:00:01"),
        },
        {
            "event_id": "e1",
            "user_id": "u5",
            "item_id": "1",
            "event_type": "like",
            "value": None,
            "event_ts": ts("2024-01-04T10:00:00"),
            "ingested_at": ts("2024-01-04T10:05:00"),
        },
        {
            "event_id": "e2",
            "user_id": "u1",
            "item_id": "3",
            "event_type": "rating",
            "value": 4.5,
            "event_ts": ts("2024-01-04T10:30:00"),
            "ingested_at": ts("2024-01-04T10:30:01"),
        },
        {
            "event_id": "e3",
            "user_id": "u1",
            "item_id": "999",
            "event_type": "click",
            "value": None,
            "event_ts": ts("2024-01-04T10:40:00"),
            "ingested_at": ts("2024-01-04T10:40:01"),
        },
    ]


def write_sample_landing(data_dir: Path) -> None:
    write_landing(data_dir, sample_items(), sample_users(), sample_interaction_parts())
