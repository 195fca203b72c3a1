"""The feature values of the point-in-time training set, attached in Arrow after the Spark join.

Each view's feature table is read once (entities x snapshots rows: thousands to a few hundred
thousand, not the interactions) and its rows numbered by (key, timestamp); the Spark join
(``jobs.training_set_spark``) returns, per interaction, the number of the row it sees, and every
batch of that slim result gets its values with one ``take`` per view. The wide values (a 384-d
embedding per row, lists of item ids) are thus copied once, into the output file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from jobs.training_set_spark import FIRST_ID, STAMPS, Stamps, ViewSource

_UTC_MICROS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class FeatureRows:
    """One view's feature rows: row ``i`` of ``values`` is the row whose id is ``i``."""

    view: ViewSource
    values: pa.Table  # the view's features, under their full names (``<view>__<feature>``)
    stamps: pa.Table  # one row per entity: join key, FIRST_ID, STAMPS (what the Spark join needs)


def _timestamps(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """As Spark and Feast compare them: UTC (a zone-less stamp is UTC), microseconds, truncated
    like the interactions' nanoseconds are."""
    kind = column.type
    if not pa.types.is_timestamp(kind):
        raise TypeError(f"timestamp column has type {kind}")
    if kind.tz is None:
        column = column.cast(pa.timestamp(kind.unit, tz="UTC"))
    return column.cast(_UTC_MICROS, safe=False)


def _per_entity(keys: pa.Array, stamps: pa.Array, key_name: str) -> pa.Table:
    """Rows sorted by (key, timestamp) -> one row per key: the key, its first row's position
    and its timestamps as a list."""
    n = len(keys)
    if n == 0:
        starts = np.zeros(0, np.int64)
    else:
        changes = pc.not_equal(keys.slice(1), keys.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        starts = np.concatenate([[0], np.flatnonzero(changes) + 1]).astype(np.int64)
    offsets = pa.array(np.append(starts, n), pa.int32())
    return pa.table(
        {
            key_name: keys.take(pa.array(starts)),
            FIRST_ID: pa.array(starts, pa.int64()),
            STAMPS: pa.ListArray.from_arrays(offsets, stamps),
        }
    )


def read_feature_rows(view: ViewSource) -> FeatureRows:
    """The view's table (a file or a directory of hive-style ``ds=`` partitions), one row per
    (key, timestamp): of two rows of one entity at the same instant the first read is kept.
    Rows without a key can never be seen and are left out."""
    source = ds.dataset(view.path, format="parquet", partitioning="hive")
    table = source.to_table(columns=[view.join_key, view.timestamp_field, *view.features])
    rows = pa.table(
        {
            view.join_key: table.column(view.join_key).cast(pa.string()),
            "_t": _timestamps(table.column(view.timestamp_field)),
            "_i": pa.array(np.arange(table.num_rows, dtype=np.int64)),
        }
    ).filter(pc.is_valid(table.column(view.join_key)))
    first = rows.group_by([view.join_key, "_t"], use_threads=False).aggregate([("_i", "min")])
    first = first.sort_by([(view.join_key, "ascending"), ("_t", "ascending")])
    values = table.select(view.features).take(first.column("_i_min")).combine_chunks()
    values = values.rename_columns([view.column(f) for f in view.features])
    column = lambda name: first.column(name).combine_chunks()  # noqa: E731
    return FeatureRows(view, values, _per_entity(column(view.join_key), column("_t"), view.join_key))


def write_stamps(rows: Sequence[FeatureRows], directory: Path) -> dict[str, Stamps]:
    """Each view's stamps as a Parquet file for Spark; {view name: Stamps}."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for view_rows in rows:
        path = directory / f"{view_rows.view.name}.parquet"
        pq.write_table(view_rows.stamps, path)
        out[view_rows.view.name] = Stamps(str(path), view_rows.stamps.num_rows)
    return out


def attach_values(batch: pa.RecordBatch | pa.Table, rows: Sequence[FeatureRows]) -> dict[str, pa.Array]:
    """Every view's feature columns for the batch's rows, by the row ids the join found."""
    columns: dict[str, pa.Array] = {}
    for view_rows in rows:
        ids = batch.column(view_rows.view.id_column)
        taken = view_rows.values.take(ids)
        for name in taken.column_names:
            columns[name] = taken.column(name)
    return columns
