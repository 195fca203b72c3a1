"""The point-in-time join of the training set on Spark (what Feast's ``get_historical_features`` does).

For every interaction and every feature view: the view's row of the same entity with the latest
``event_timestamp <= the interaction's`` (and, when the view has a TTL, ``>= interaction - TTL``),
else nulls. Done as an as-of join: interaction and feature timestamps of one key are sorted
together and the last feature timestamp seen is carried forward (a feature row at exactly the
interaction's time counts), then the feature values are joined on (key, that timestamp). One
sort per join key instead of Feast's merge of every interaction with every row of its entity, and
an entity whose rows all lie after an interaction just gets nulls for that view (Feast's Dask
store drops such rows). The result keeps the interactions' order (``_row``).
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


def _asof_column(view: ViewSource) -> str:
    return f"_asof_{view.name}"


def _with_asof(entities: DataFrame, stamps: dict[str, DataFrame], views: Sequence[ViewSource]) -> DataFrame:
    """``entities`` plus, per view, the timestamp of the feature row each interaction sees (or null).

    ``views`` share one join key, so one sort of that key's rows serves all of them."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = views[0].join_key
    rows = entities.withColumn("_t", F.col(EVENT_TS)).withColumn("_kind", F.lit(1))
    together = rows
    for i, view in enumerate(views):
        tagged = stamps[view.name].select(
            F.col(key), F.col("_fts").alias("_t"), F.lit(0).alias("_kind"), F.lit(i).alias("_view")
        )
        together = together.unionByName(tagged, allowMissingColumns=True)
    # Features sort before interactions at the same instant: a row stamped t is visible at t.
    order = Window.partitionBy(key).orderBy("_t", "_kind").rowsBetween(Window.unboundedPreceding, 0)
    for i, view in enumerate(views):
        seen = F.last(F.when(F.col("_view") == i, F.col("_t")), ignorenulls=True).over(order)
        together = together.withColumn(_asof_column(view), seen)
    out = together.where(F.col("_kind") == 1)
    for view in views:
        if view.ttl:
            asof = _asof_column(view)
            oldest = F.col(EVENT_TS) - F.expr(f"INTERVAL {int(view.ttl.total_seconds())} SECONDS")
            out = out.withColumn(asof, F.when(F.col(asof) >= oldest, F.col(asof)))
    return out.drop("_t", "_kind", "_view")


def _feature_rows(spark: SparkSession, view: ViewSource) -> DataFrame:
    from pyspark.sql import functions as F

    df = spark.read.parquet(view.path)
    # Two rows of one entity at the same instant: keep one (Feast keeps one too).
    return df.select(
        F.col(view.join_key), F.col(view.timestamp_field).alias("_fts"), *[F.col(f) for f in view.features]
    ).dropDuplicates([view.join_key, "_fts"])


# Feature tables up to this size on disk are broadcast to the join (item views, embeddings, user
# snapshots of a sample): the wide values then never go through a shuffle or a sort.
BROADCAST_MAX_BYTES = 64 * 1024 * 1024


def _bytes_on_disk(path: str) -> int:
    from pathlib import Path

    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*.parquet")) if p.is_dir() else 0


def point_in_time_join(spark: SparkSession, entities: DataFrame, views: Sequence[ViewSource]) -> DataFrame:
    """``entities`` (``_row``, join keys, ``event_timestamp``, label columns) with every view's
    features as ``<view>__<feature>``, each as of the row's ``event_timestamp``; ordered by ``_row``.

    The shuffles (as-of per view, then the range partitioning by ``_row``) move slim rows; the
    feature values are joined last, by broadcast when the table is small, so the wide rows are
    only sorted within their partition. ``jobs.training_set`` checks the order it writes."""
    from pyspark.sql import functions as F

    sources = {v.name: _feature_rows(spark, v) for v in views}
    joined = entities
    by_key: dict[str, list[ViewSource]] = {}
    for view in views:
        by_key.setdefault(view.join_key, []).append(view)
    for same_key in by_key.values():  # the matching timestamps on slim rows: one sort per join key
        joined = _with_asof(joined, sources, same_key)
    # Range-partitioned by _row on slim rows; the broadcast joins are narrow, so each partition
    # only needs a local sort at the end (a global sort before a join would be optimised away).
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions"))
    joined = joined.repartitionByRange(partitions, ROW)
    resort = False
    for view in views:  # then fetch the values: an equi-join on (key, timestamp)
        values = sources[view.name].select(
            F.col(view.join_key).alias("_k"),
            F.col("_fts"),
            *[F.col(f).alias(view.column(f)) for f in view.features],
        )
        if _bytes_on_disk(view.path) <= BROADCAST_MAX_BYTES:
            values = F.broadcast(values)
        else:
            resort = True  # a shuffle join does not keep the order
        cond = (F.col(view.join_key) == F.col("_k")) & (F.col(_asof_column(view)) == F.col("_fts"))
        joined = joined.join(values, cond, "left").drop("_k", "_fts", _asof_column(view))
    return joined.orderBy(ROW) if resort else joined.sortWithinPartitions(ROW)
