"""Helpers for the dbt tests: hand-made landing Parquet files and a real `dbt build` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambdarec_contracts.tables import (
    LANDED_EVENTS_COLUMNS,
    LANDING_INTERACTIONS_COLUMNS,
    LANDING_ITEMS_COLUMNS,
    LANDING_USERS_COLUMNS,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
DBT_BIN = Path(os.environ.get("LAMBDAREC_VENVS", REPO_ROOT / ".venvs")) / "pipeline" / "bin" / "dbt"

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


def write_landed_events(data_dir: Path, date: str, hour: str, rows: list[dict[str, Any]]) -> None:
    """One file as the speed layer lands it (events/landed/date=…/hour=…/)."""
    path = data_dir / "events" / "landed" / f"date={date}" / f"hour={hour}" / "part-00000.parquet"
    write_table(path, LANDED_EVENTS_COLUMNS, rows)


@dataclass
class DbtRun:
    returncode: int
    output: str
    seconds: float
    target_dir: Path

    def run_results(self) -> list[dict[str, Any]]:
        return json.loads((self.target_dir / "run_results.json").read_text())["results"]


def dbt_build(data_dir: Path, work_dir: Path, *args: str) -> DbtRun:
    """Run the real `dbt build` the way the DAG does: from a foreign cwd, only env + two flags."""
    target_dir = work_dir / "target"
    env = {
        **os.environ,
        "LAMBDAREC_DATA_DIR": str(data_dir),
        "DBT_TARGET_PATH": str(target_dir),
        "DBT_LOG_PATH": str(work_dir / "logs"),
        "LAMBDAREC_DBT_THREADS": "2",
    }
    cmd = [str(DBT_BIN), "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), *args]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=work_dir, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    print(f"dbt build {' '.join(args)}: exit {proc.returncode} in {seconds:.1f}s")
    return DbtRun(proc.returncode, proc.stdout + proc.stderr, seconds, target_dir)


@pytest.fixture(scope="module")
def dbt_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt_cwd")
