"""The feature values of the point-in-time training set, attached in Arrow after the Spark join.

Each view's feature table is read once (entities x snapshots rows: thousands to a few hundred
thousand, not the interactions) and its rows numbered; the Spark as-of join
(``jobs.training_set_spark``) returns, per interaction, the number of the row it sees, and every
batch of that slim result gets its values with one ``take`` per view. The wide values (a 384-d
embedding per row, lists of item ids) are thus copied once, into the output file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from jobs.training_set_spark import STAMP_ID, STAMP_TS, ViewSource

_UTC_MICROS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class FeatureRows:
    """One view's feature rows: row ``i`` of ``values`` is the row whose id is ``i``."""

    view: ViewSource
    values: pa.Table  # the view's features, under their full names (``<view>__<feature>``)
    stamps: pa.Table  # (join key, STAMP_TS, STAMP_ID), what the Spark join needs


def _timestamps(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """As Spark and Feast compare them: UTC (a zone-less stamp is UTC), microseconds, truncated
    like the interactions' nanoseconds are."""
    kind = column.type
    if not pa.types.is_timestamp(kind):
        raise TypeError(f"timestamp column has type {kind}")
    if kind.tz is None:
        column = column.cast(pa.timestamp(kind.unit, tz="UTC"))
    return column.cast(_UTC_MICROS, safe=False)


def read_feature_rows(view: ViewSource) -> FeatureRows:
    """The view's table (a file or a directory of hive-style ``ds=`` partitions), one row per
    (key, timestamp): of two rows of one entity at the same instant the first read is kept."""
    source = ds.dataset(view.path, format="parquet", partitioning="hive")
    table = source.to_table(columns=[view.join_key, view.timestamp_field, *view.features])
    keys = table.column(view.join_key).cast(pa.string())
    stamps = pa.table(
        {view.join_key: keys, STAMP_TS: _timestamps(table.column(view.timestamp_field))}
    ).append_column("_i", pa.array(range(table.num_rows), pa.int64()))
    first = stamps.group_by([view.join_key, STAMP_TS], use_threads=False).aggregate([("_i", "min")])
    keep = pc.sort_indices(first.column("_i_min"))
    kept = first.column("_i_min").take(keep)
    values = table.select(view.features).take(kept).combine_chunks()
    values = values.rename_columns([view.column(f) for f in view.features])
    ids = pa.array(range(len(kept)), pa.int64())
    stamps = pa.table(
        {view.join_key: first.column(view.join_key).take(keep), STAMP_TS: first.column(STAMP_TS).take(keep),
         STAMP_ID: ids}
    )  # fmt: skip
    return FeatureRows(view, values, stamps)


def write_stamps(rows: Sequence[FeatureRows], directory: Path) -> dict[str, str]:
    """Each view's stamps as a Parquet file for Spark; {view name: path}."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for view_rows in rows:
        path = directory / f"{view_rows.view.name}.parquet"
        pq.write_table(view_rows.stamps, path)
        paths[view_rows.view.name] = str(path)
    return paths


def attach_values(batch: pa.RecordBatch | pa.Table, rows: Sequence[FeatureRows]) -> dict[str, pa.Array]:
    """Every view's feature columns for the batch's rows, by the row ids the join found."""
    columns: dict[str, pa.Array] = {}
    for view_rows in rows:
        ids = batch.column(view_rows.view.id_column)
        taken = view_rows.values.take(ids)
        for name in taken.column_names:
            columns[name] = taken.column(name)
    return columns
