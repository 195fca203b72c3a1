"""The point-in-time join of the training set on Spark (what Feast's ``get_historical_features`` does).

For every interaction and every feature view: the view's row of the same entity with the latest
``event_timestamp <= the interaction's`` (and, when the view has a TTL, ``>= interaction - TTL``),
else nulls. Done as an as-of join: interaction and feature timestamps of one key are sorted
together and the last feature row seen is carried forward (a feature row at exactly the
interaction's time counts). One sort per join key instead of Feast's merge of every interaction
with every row of its entity, and an entity whose rows all lie after an interaction just gets
nulls for that view (Feast's Dask store drops such rows).

Spark only sees each view's stamps (key, timestamp, row id; ``jobs.training_set_values`` numbers
the feature rows) and returns, per interaction and view, the id of the row it sees: the feature
values (a 384-d embedding, lists of item ids) never go through a shuffle, a sort or Spark's
Parquet writer; they are attached to the slim result afterwards, in Arrow. The result keeps the
interactions' order (``_row``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from lambdarec_contracts.features import FULL_NAME_SEPARATOR

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ROW = "_row"
EVENT_TS = "event_timestamp"
# Columns of a view's stamps table (besides the join key): feature row timestamp and row id.
STAMP_TS = "_fts"
STAMP_ID = "_fid"


@dataclass(frozen=True)
class ViewSource:
    """One feature view as the join needs it (read from the Feast registry)."""

    name: str
    join_key: str
    timestamp_field: str
    ttl: timedelta | None  # None or 0: no lower bound
    path: str
    features: list[str]

    def column(self, feature: str) -> str:
        return FULL_NAME_SEPARATOR.join((self.name, feature))

    @property
    def id_column(self) -> str:
        """The join's output column: the id of the feature row an interaction sees (or null)."""
        return f"_fid_{self.name}"


def _with_row_ids(
    entities: DataFrame, stamps: dict[str, DataFrame], views: Sequence[ViewSource]
) -> DataFrame:
    """``entities`` plus, per view, the id of the feature row each interaction sees (or null).

    ``views`` share one join key, so one sort of that key's rows serves all of them."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = views[0].join_key
    together = entities.withColumn("_t", F.col(EVENT_TS)).withColumn("_kind", F.lit(1))
    for i, view in enumerate(views):
        tagged = stamps[view.name].select(
            F.col(key),
            F.col(STAMP_TS).alias("_t"),
            F.col(STAMP_ID).alias("_id"),
            F.lit(0).alias("_kind"),
            F.lit(i).alias("_view"),
        )
        together = together.unionByName(tagged, allowMissingColumns=True)
    # Features sort before interactions at the same instant: a row stamped t is visible at t.
    order = Window.partitionBy(key).orderBy("_t", "_kind").rowsBetween(Window.unboundedPreceding, 0)
    for i, view in enumerate(views):
        mine = F.col("_view") == i
        seen_id = F.last(F.when(mine, F.col("_id")), ignorenulls=True).over(order)
        together = together.withColumn(view.id_column, seen_id)
        if view.ttl:
            seen_at = F.last(F.when(mine, F.col("_t")), ignorenulls=True).over(order)
            oldest = F.col(EVENT_TS) - F.expr(f"INTERVAL {int(view.ttl.total_seconds())} SECONDS")
            together = together.withColumn(view.id_column, F.when(seen_at >= oldest, F.col(view.id_column)))
    return together.where(F.col("_kind") == 1).drop("_t", "_kind", "_view", "_id")


def point_in_time_ids(
    spark: SparkSession, entities: DataFrame, views: Sequence[ViewSource], stamps: dict[str, str]
) -> DataFrame:
    """``entities`` (``_row``, join keys, ``event_timestamp``, label columns) plus, per view, the
    id (``STAMP_ID``) of the feature row each interaction sees as of its ``event_timestamp``
    (``view.id_column``, null when none); ordered by ``_row``.

    ``stamps`` maps each view to a Parquet file of (join key, ``STAMP_TS``, ``STAMP_ID``) with one
    row per (key, timestamp). Every shuffle moves slim rows: the as-of per join key, then the
    range partitioning by ``_row`` and a sort within each partition."""
    frames = {name: spark.read.parquet(path) for name, path in stamps.items()}
    joined = entities
    by_key: dict[str, list[ViewSource]] = {}
    for view in views:
        by_key.setdefault(view.join_key, []).append(view)
    for same_key in by_key.values():  # one sort per join key
        joined = _with_row_ids(joined, frames, same_key)
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions"))
    return joined.repartitionByRange(partitions, ROW).sortWithinPartitions(ROW)
