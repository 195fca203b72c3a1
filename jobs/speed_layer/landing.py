"""Parquet landing of events and impressions: idempotent batch files, reads, hourly compaction.

Layout (``settings.events_dir`` / ``settings.impressions_dir``)::

    date=YYYY-MM-DD/hour=HH/part-<first stream id>_<last stream id>.parquet   one per worker batch
    date=YYYY-MM-DD/hour=HH/compacted.parquet                                 after jobs.land_events
    date=YYYY-MM-DD/hour=HH/_SUCCESS                                          JSON counts

A re-delivered batch gets the same file name and overwrites it (temp file + rename), so a
reader never sees half a file; readers still dedupe (events by event_id, impressions by
request/item/position) because a re-delivered batch may be cut at different boundaries.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .records import EVENTS_SCHEMA, IMPRESSIONS_SCHEMA

COMPACTED_FILE = "compacted.parquet"
SUCCESS_FILE = "_SUCCESS"
EVENTS_KEY = ("event_id",)
IMPRESSIONS_KEY = ("request_id", "user_id", "item_id", "position")


def partition_dir(root: Path, date: str, hour: str) -> Path:
    return root / f"date={date}" / f"hour={hour}"


def batch_file_name(first_id: str, last_id: str) -> str:
    """Name derived from the batch's stream ids: a re-delivered batch overwrites its own file."""
    return f"part-{first_id}_{last_id}.parquet"


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a rename, a new file or subdirectory) durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mkdirs_durable(directory: Path) -> None:
    """``mkdir -p``, then fsync the parent of every directory it created (so the path survives a crash)."""
    missing: list[Path] = []
    d = directory
    while not d.exists():
        missing.append(d)
        d = d.parent
    directory.mkdir(parents=True, exist_ok=True)
    for m in reversed(missing):
        fsync_dir(m.parent)


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file durably: temp file, fsync, rename into place, fsync the directory.

    The worker acks a batch only after this returns, so the file must survive a power loss or
    a kernel crash, not only a process kill: without the fsyncs a crash right after the ack
    could leave an empty or missing file for entries Redis no longer redelivers.
    """
    mkdirs_durable(path.parent)
    # Hidden + not *.parquet, so dbt's events/landed/**/*.parquet glob never sees a partial file.
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def parquet_files(directory: Path) -> list[Path]:
    """Visible Parquet files of one partition directory, sorted by name."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.parquet") if not p.name.startswith("."))


def read_files(files: list[Path], schema: pa.Schema) -> pa.Table:
    """Concatenate Parquet files into one table of the contract schema."""
    tables = [pq.read_table(f, schema=schema) for f in files]
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables)


def dedupe(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """Keep one row per key: the earliest ingested (the first landing of a re-delivered entry)."""
    if table.num_rows == 0:
        return table
    ordered = table.sort_by([("ingested_at", "ascending"), *[(k, "ascending") for k in key]])
    ordered = ordered.append_column("_row", pa.array(range(ordered.num_rows), pa.int64()))
    first = ordered.group_by(list(key), use_threads=False).aggregate([("_row", "min")])
    keep = pc.is_in(ordered["_row"], value_set=first["_row_min"])
    return ordered.filter(keep).drop_columns(["_row"])


def sort_landed(table: pa.Table, ts_column: str, key: tuple[str, ...]) -> pa.Table:
    return table.sort_by([(ts_column, "ascending"), *[(k, "ascending") for k in key]])


def read_all_landed(root: Path, kind: str) -> pa.Table:
    """Every landed partition under ``root``, deduplicated."""
    schema, key, ts_col = _kind(kind)
    files = sorted(p for p in root.glob("date=*/hour=*/*.parquet") if not p.name.startswith("."))
    return sort_landed(dedupe(read_files(files, schema), key), ts_col, key)


def _kind(kind: str) -> tuple[pa.Schema, tuple[str, ...], str]:
    if kind == "events":
        return EVENTS_SCHEMA, EVENTS_KEY, "event_ts"
    if kind == "impressions":
        return IMPRESSIONS_SCHEMA, IMPRESSIONS_KEY, "impression_ts"
    raise ValueError(f"unknown landed kind {kind!r}")


def compact_partition(directory: Path, kind: str, marker: dict[str, Any]) -> dict[str, Any]:
    """Rewrite one hour's files as one deduplicated ``compacted.parquet`` plus ``_SUCCESS``.

    Idempotent: re-running reads the compacted file (and any file landed since), dedupes to
    the same rows and rewrites it. Only the files read are deleted, so a part file the
    worker lands meanwhile survives until the next run.
    """
    schema, key, ts_col = _kind(kind)
    inputs = parquet_files(directory)
    raw = read_files(inputs, schema)
    table = sort_landed(dedupe(raw, key), ts_col, key)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / COMPACTED_FILE
    write_atomic(table, target)
    for f in inputs:
        if f != target:
            f.unlink(missing_ok=True)
    counts: dict[str, Any] = {
        **marker,
        "kind": kind,
        "rows": table.num_rows,
        "input_files": len(inputs),
        "input_rows": raw.num_rows,
        "duplicates_dropped": raw.num_rows - table.num_rows,
        "compacted_at": datetime.now(UTC).isoformat(),
    }
    if kind == "events" and table.num_rows:
        types = table.group_by("event_type").aggregate([("event_id", "count")]).to_pylist()
        counts["by_event_type"] = {t["event_type"]: t["event_id_count"] for t in types}
    tmp = directory / f".{SUCCESS_FILE}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(counts, indent=2, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / SUCCESS_FILE)
    fsync_dir(directory)
    return counts
