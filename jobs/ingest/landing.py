"""Writing ``landing/`` atomically: everything goes to a temporary sibling, then one rename."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lambdarec_contracts.arrow import arrow_schema
from lambdarec_contracts.tables import (
    LANDING_INTERACTIONS_COLUMNS,
    LANDING_ITEMS_COLUMNS,
    LANDING_USERS_COLUMNS,
)

ITEMS_FILE = "items.parquet"
USERS_FILE = "users.parquet"
INTERACTIONS_DIR = "interactions"
REPORT_FILE = "ingest_report.json"

ITEMS_SCHEMA = arrow_schema(LANDING_ITEMS_COLUMNS)
USERS_SCHEMA = arrow_schema(LANDING_USERS_COLUMNS)
INTERACTIONS_SCHEMA = arrow_schema(LANDING_INTERACTIONS_COLUMNS)


def write_rows(rows: list[dict], schema: pa.Schema, path: Path) -> None:
    """Write a list of row dicts (small tables: items, users) as one Parquet file."""
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


class PartWriter:
    """Writes interaction blocks as landing/interactions/part-NNNNN.parquet, one file per block."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.n_parts = 0
        self.n_rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = table.select(INTERACTIONS_SCHEMA.names).cast(INTERACTIONS_SCHEMA)
        pq.write_table(table, self.directory / f"part-{self.n_parts:05d}.parquet")
        self.n_parts += 1
        self.n_rows += table.num_rows

    def finish(self) -> None:
        """Always leave at least one (possibly empty) part, so readers of the glob find a schema."""
        if self.n_parts == 0:
            pq.write_table(INTERACTIONS_SCHEMA.empty_table(), self.directory / "part-00000.parquet")
            self.n_parts = 1


@contextmanager
def staged_dir(out_dir: Path) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``out_dir``; on success, swap it into place.

    The temporary directory sits next to ``out_dir`` (same filesystem, so renames are atomic).
    The old ``out_dir`` is renamed aside first and removed only after the new one is in place,
    so any failure leaves either the old or the new landing, never a partial one.
    """
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{token}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out_dir.parent / f".{out_dir.name}.old-{token}"
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
