"""The point-in-time join of the training set on Spark (what Feast's ``get_historical_features`` does).

For every interaction and every feature view: the view's row of the same entity with the latest
``event_timestamp <= the interaction's`` (and, when the view has a TTL, ``>= interaction - TTL``),
else nulls. A feature row at exactly the interaction's time counts, and an entity whose rows all
lie after an interaction just gets nulls for that view (Feast's Dask store drops such rows).

Spark only sees each view's stamps, one row per entity: the join key, the timestamps of its
feature rows in ascending order and the id of the first (``jobs.training_set_values`` numbers the
rows by (key, timestamp), so an entity's rows have consecutive ids). Each interaction is joined to
its entity's stamps on the key and counts the timestamps ``<=`` its own: that count picks the id
of the row it sees. No sort and no window per key; when a view's stamps are small enough they are
broadcast, so the interactions are never shuffled and keep their order (``_row``); larger ones
take a shuffle join and a sort by ``_row`` at the end. The feature values (a 384-d embedding,
lists of item ids) never enter Spark: they are attached to the slim result afterwards, in Arrow.
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
# Columns of a view's stamps table (besides the join key): the id of the entity's first feature
# row, and the timestamps of its rows, ascending (row i of the entity has id FIRST_ID + i).
FIRST_ID = "_fid0"
STAMPS = "_fts"
# Stamps tables with up to this many entities are broadcast to the join (a few bytes per
# timestamp: 2M entities x 9 weekly snapshots is ~150 MB); above, Spark shuffles both sides.
BROADCAST_MAX_ENTITIES = 2_000_000


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


@dataclass(frozen=True)
class Stamps:
    """Where a view's stamps table is (Parquet: join key, FIRST_ID, STAMPS) and its entity count."""

    path: str
    entities: int


def _seen_id(view: ViewSource):
    """The id of the row an interaction sees, from its entity's stamps (null when none)."""
    from pyspark.sql import functions as F

    at = F.col(EVENT_TS)
    stamps = F.col(STAMPS)
    visible = F.size(F.filter(stamps, lambda t: t <= at))  # null when the entity has no rows
    seen = F.col(FIRST_ID) + visible - 1
    if view.ttl:
        # The latest visible row is within the TTL iff any visible row is.
        oldest = at - F.expr(f"INTERVAL {int(view.ttl.total_seconds())} SECONDS")
        fresh = F.size(F.filter(stamps, lambda t: (t <= at) & (t >= oldest)))
        return F.when(fresh > 0, seen)
    return F.when(visible > 0, seen)


def point_in_time_ids(
    spark: SparkSession, entities: DataFrame, views: Sequence[ViewSource], stamps: dict[str, Stamps]
) -> DataFrame:
    """``entities`` (``_row``, join keys, ``event_timestamp``, label columns) plus, per view, the
    id of the feature row each interaction sees as of its ``event_timestamp`` (``view.id_column``,
    null when none); ordered by ``_row``. ``stamps`` maps each view name to its stamps table."""
    from pyspark.sql import functions as F

    joined = entities
    shuffled = False
    for view in views:
        table = spark.read.parquet(stamps[view.name].path).select(
            F.col(view.join_key).alias("_k"), FIRST_ID, STAMPS
        )
        if stamps[view.name].entities <= BROADCAST_MAX_ENTITIES:
            table = F.broadcast(table)
        else:
            shuffled = True  # a shuffle join does not keep the interactions' order
        joined = joined.join(table, F.col(view.join_key) == F.col("_k"), "left")
        joined = joined.withColumn(view.id_column, _seen_id(view)).drop("_k", FIRST_ID, STAMPS)
    # Broadcast joins are narrow: each partition holds a contiguous, ordered range of _row
    # (monotonically_increasing_id), and the local sort only guards that order.
    return joined.orderBy(ROW) if shuffled else joined.sortWithinPartitions(ROW)
