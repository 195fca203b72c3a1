"""Pure DataFrame -> DataFrame transforms computing feature snapshots "as of the end of day ds".

Time semantics (all UTC): the snapshot of day ``ds`` becomes valid at ``ds + 1 day 00:00``
(its ``event_timestamp``) and sees exactly the interactions with ``event_ts`` strictly before
that instant. An N-day window covers ``[snapshot - N days, snapshot)``.

Inputs have the columns of the dbt marts (``FCT_INTERACTIONS_COLUMNS``, ``DIM_ITEMS_COLUMNS``);
outputs have exactly the columns and types of ``schemas.output_schema``. No transform runs a
Spark action: each returns a lazy DataFrame, the caller decides when to compute it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lambdarec_contracts.features import RECENT_HISTORY_LEN
from lambdarec_contracts.tables import GENRES

from .schemas import EVENT_TIMESTAMP, item_features_schema, user_features_schema


@dataclass(frozen=True)
class FeatureParams:
    """Tunable parameters of the feature definitions (CLI flags of the job)."""

    bayes_m: float = 10.0  # weight of the global-mean prior in the Bayesian average, in ratings
    trending_smoothing: float = 1.0  # pseudo-count in the trending score's denominator
    recent_len: int = RECENT_HISTORY_LEN

    def __post_init__(self) -> None:
        if self.bayes_m < 0:
            raise ValueError("bayes_m must be >= 0")
        if self.trending_smoothing <= 0:
            raise ValueError("trending_smoothing must be > 0")
        if self.recent_len < 1:
            raise ValueError("recent_len must be >= 1")


def snapshot_time(ds: dt.date) -> dt.datetime:
    """The instant the snapshot of day ``ds`` becomes valid: ds + 1 day, 00:00 UTC."""
    return dt.datetime.combine(ds + dt.timedelta(days=1), dt.time(0, 0), tzinfo=dt.UTC)


def _ts(instant: dt.datetime) -> Column:
    # Built from epoch seconds so neither the driver's nor the JVM's time zone can shift it.
    return F.timestamp_seconds(F.lit(int(instant.timestamp())))


def _since(ds: dt.date, days: int) -> Column:
    return _ts(snapshot_time(ds) - dt.timedelta(days=days))


def visible_interactions(interactions: DataFrame, ds: dt.date) -> DataFrame:
    """Interactions a snapshot of day ``ds`` may see: event_ts < ds + 1 day 00:00 UTC."""
    return interactions.where(F.col("event_ts") < _ts(snapshot_time(ds)))


def _window_counts(ds: dt.date) -> list[Column]:
    """Aggregations: counts over the 7-day, 30-day and all-time windows ending at the snapshot."""
    return [
        F.count(F.when(F.col("event_ts") >= _since(ds, 7), 1)).alias("n_interactions_7d"),
        F.count(F.when(F.col("event_ts") >= _since(ds, 30), 1)).alias("n_interactions_30d"),
        F.count(F.lit(1)).alias("n_interactions_total"),
    ]


def checked_genres() -> Column:
    """``genres`` as dbt staging leaves it, or the job fails naming the item: not re-cleaned here.

    stg_movielens__items maps aliases, unknown and missing genres onto the contracts' GENRES
    (one place); the affinity vector relies on a non-empty list of distinct GENRES names.
    Lazy like every transform: the check runs when the rows are computed, at no extra action.
    """
    genres = F.col("genres")
    ok = (
        genres.isNotNull()
        & (F.size(genres) > 0)
        & (F.size(F.array_distinct(genres)) == F.size(genres))
        & (F.size(F.array_except(genres, F.array(*[F.lit(g) for g in GENRES]))) == 0)
    )
    message = F.concat(
        F.lit("dim_items.genres of item "),
        F.coalesce(F.col("item_id"), F.lit("null")),
        F.lit(" is not a non-empty list of distinct contract GENRES: "),
        F.coalesce(F.to_json(genres), F.lit("null")),
        F.lit(" (dbt staging canonicalises genres: build the marts with dbt)"),
    )
    return F.when(ok, genres).otherwise(F.raise_error(message))


def _genre_votes(pairs: DataFrame, items: DataFrame) -> DataFrame:
    """``pairs`` (user_id, item_id, _n_pos) plus ``_votes`` (the pair's positives on a known item)
    and ``_genre_w`` (float[len(GENRES)]: each positive one vote split equally over the item's
    genres). Items outside ``dim_items`` vote for nothing."""
    item_genres = items.select("item_id", checked_genres().alias("_genres"))
    joined = pairs.join(item_genres, "item_id", "left")
    known = F.col("_genres").isNotNull()
    votes = F.when(known, F.col("_n_pos")).otherwise(F.lit(0))
    w = votes.cast("double") / F.when(known, F.size("_genres")).otherwise(F.lit(1))
    per_genre = [F.when(F.array_contains(F.col("_genres"), g), w).otherwise(F.lit(0.0)) for g in GENRES]
    return joined.withColumn("_votes", votes).withColumn("_genre_w", F.array(*per_genre))


def _affinity_sums() -> list[Column]:
    """Aggregations over ``_genre_votes`` rows: per-genre vote sums and their total."""
    return [F.sum(F.col("_genre_w")[n]).alias(f"_g{n}") for n in range(len(GENRES))] + [
        F.sum("_votes").alias("_votes")
    ]


def _affinity_vector() -> Column:
    """The genre_affinity column from ``_affinity_sums``: shares summing to 1, or all zeros."""
    total = F.col("_votes")
    return F.array(
        *[
            F.when(total > 0, F.col(f"_g{n}") / total).otherwise(F.lit(0.0)).cast("float")
            for n in range(len(GENRES))
        ]
    )


def genre_affinity(positives: DataFrame, items: DataFrame) -> DataFrame:
    """(user_id, genre_affinity): share of the user's positive interactions per genre, GENRES order.

    Each positive interaction is one vote, split equally among its item's genres, so the
    vector sums to 1. Users without positives (on known items) get no row here.
    """
    pairs = positives.groupBy("user_id", "item_id").agg(F.count(F.lit(1)).alias("_n_pos"))
    per_user = _genre_votes(pairs, items).groupBy("user_id").agg(*_affinity_sums())
    return per_user.where(F.col("_votes") > 0).select("user_id", _affinity_vector().alias("genre_affinity"))


def _conform(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Select the schema's columns in order, cast to its types (the contract is the schema)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def _newest_entries(ts: Column, limit: int) -> Column:
    """Aggregation: the group's (k = -micros of ``ts``, i = item_id) structs, newest first (ties by
    item_id), at most ``limit``; rows whose ``ts`` is null are left out (``collect_list`` skips
    nulls). The state keeps the timestamps so that two segments' lists can be merged."""
    entry = F.when(ts.isNotNull(), F.struct((-F.unix_micros(ts)).alias("k"), F.col("item_id").alias("i")))
    return F.slice(F.array_sort(F.collect_list(entry)), 1, limit)


_STATE_SUMS = (
    ("n_interactions_total", "_r_sum", "_r_sq", "_r_n")
    + tuple(f"_g{n}" for n in range(len(GENRES)))
    + ("_votes",)
)


def user_state(events: DataFrame, items: DataFrame, params: FeatureParams | None = None) -> DataFrame:
    """Per user, the aggregates of ``events`` every user feature but the 7/30-day counts derives from.

    One row per user with an event: the event count, rating sums (sum, sum of squares, count), the
    latest event, the newest distinct items and positive items with their timestamps, and the
    genre vote sums. They add up over disjoint sets of events (``merge_user_states``), so a
    backfill computes each weekly snapshot from the previous one and the week between them.
    Two shuffles: events -> one row per (user, item), then -> one row per user.
    """
    params = params or FeatureParams()
    rated = F.col("rating").isNotNull()
    pos = F.coalesce(F.col("is_positive"), F.lit(False))
    pairs = events.groupBy("user_id", "item_id").agg(
        F.count(F.lit(1)).alias("n_interactions_total"),
        F.sum("rating").alias("_r_sum"),
        F.sum(F.col("rating") * F.col("rating")).alias("_r_sq"),
        F.count(F.when(rated, 1)).alias("_r_n"),
        F.max("event_ts").alias("_ts"),
        F.max(F.when(pos, F.col("event_ts"))).alias("_pos_ts"),
        F.count(F.when(pos, 1)).alias("_n_pos"),
    )
    return (
        _genre_votes(pairs, items)
        .groupBy("user_id")
        .agg(
            *[F.sum(c).alias(c) for c in ("n_interactions_total", "_r_sum", "_r_sq", "_r_n")],
            F.max("_ts").alias("_last_ts"),
            _newest_entries(F.col("_ts"), params.recent_len).alias("_recent"),
            _newest_entries(F.col("_pos_ts"), params.recent_len).alias("_recent_pos"),
            *_affinity_sums(),
        )
    )


def _merged_entries(lists: Column, limit: int) -> Column:
    """Aggregation: the groups' entry lists as one, an item's newest entry only, newest first."""
    merged = F.array_sort(F.flatten(F.collect_list(lists)))
    ids = F.transform(merged, lambda s: s["i"])
    # Sorted newest first, so an item's first entry is its newest; later ones are dropped.
    first = F.filter(merged, lambda s, n: ~F.array_contains(F.slice(ids, 1, n), s["i"]))
    return F.slice(first, 1, limit)


def merge_user_states(earlier: DataFrame, later: DataFrame, params: FeatureParams | None = None) -> DataFrame:
    """The ``user_state`` of two disjoint sets of events together: sums add, the latest event is
    the later one, and the recent lists keep each item's newest entry. Equal to ``user_state`` of
    the union up to the order of the floating-point additions."""
    params = params or FeatureParams()
    return (
        earlier.unionByName(later)
        .groupBy("user_id")
        .agg(
            *[F.sum(c).alias(c) for c in _STATE_SUMS[:4]],
            F.max("_last_ts").alias("_last_ts"),
            _merged_entries(F.col("_recent"), params.recent_len).alias("_recent"),
            _merged_entries(F.col("_recent_pos"), params.recent_len).alias("_recent_pos"),
            *[F.sum(c).alias(c) for c in _STATE_SUMS[4:]],
        )
    )


def user_windows(interactions: DataFrame, ds: dt.date) -> DataFrame:
    """(user_id, n_interactions_7d, n_interactions_30d) over the last 30 days before the snapshot."""
    recent = interactions.where(
        (F.col("event_ts") >= _since(ds, 30)) & (F.col("event_ts") < _ts(snapshot_time(ds)))
    )
    return recent.groupBy("user_id").agg(*_window_counts(ds)[:2])


def user_features_from_state(state: DataFrame, windows: DataFrame, ds: dt.date) -> DataFrame:
    """The user_features snapshot of day ``ds`` from its ``user_state`` and ``user_windows``."""
    n = F.col("_r_n")
    mean = F.col("_r_sum") / n
    # Population variance from the sums (0 for one rating); clipped at 0 against rounding.
    variance = F.greatest(F.col("_r_sq") / n - mean * mean, F.lit(0.0))
    out = state.join(windows, "user_id", "left").select(
        "user_id",
        _ts(snapshot_time(ds)).alias(EVENT_TIMESTAMP),
        F.coalesce(F.col("n_interactions_7d"), F.lit(0)).alias("n_interactions_7d"),
        F.coalesce(F.col("n_interactions_30d"), F.lit(0)).alias("n_interactions_30d"),
        "n_interactions_total",
        F.when(n > 0, mean).otherwise(F.lit(0.0)).alias("rating_mean"),
        F.when(n > 0, F.sqrt(variance)).otherwise(F.lit(0.0)).alias("rating_std"),
        _affinity_vector().alias("genre_affinity"),
        F.transform("_recent", lambda s: s["i"]).alias("recent_items"),
        F.transform("_recent_pos", lambda s: s["i"]).alias("recent_positive_items"),
        F.unix_timestamp(F.col("_last_ts")).alias("last_active_ts"),
    )
    return _conform(out, user_features_schema())


def user_features(
    interactions: DataFrame, items: DataFrame, ds: dt.date, params: FeatureParams | None = None
) -> DataFrame:
    """One row per user with at least one visible interaction, as of the end of day ``ds``."""
    state = user_state(visible_interactions(interactions, ds), items, params)
    return user_features_from_state(state, user_windows(interactions, ds), ds)


def user_feature_snapshots(
    interactions: DataFrame,
    items: DataFrame,
    days: list[dt.date],
    checkpoint: Callable[[DataFrame], DataFrame],
    params: FeatureParams | None = None,
) -> Iterator[tuple[dt.date, DataFrame]]:
    """The user_features snapshots of ``days`` (ascending), each from the previous one's state.

    The first state aggregates every event before the first snapshot; each later one merges the
    previous state with the events between the two snapshots, so a backfill of K weekly snapshots
    shuffles the history once, not K times. ``checkpoint`` materialises a state and returns a
    frame reading it back (the caller's storage; it cuts the plan's lineage), before its
    snapshot is yielded. Equal to ``user_features`` per day up to floating-point addition order.
    """
    if list(days) != sorted(set(days)):
        raise ValueError(f"snapshot days must be distinct and ascending: {days}")
    state: DataFrame | None = None
    previous: dt.date | None = None
    for ds in days:
        until = F.col("event_ts") < _ts(snapshot_time(ds))
        if previous is None:
            state = user_state(interactions.where(until), items, params)
        else:
            since = F.col("event_ts") >= _ts(snapshot_time(previous))
            state = merge_user_states(
                state, user_state(interactions.where(since & until), items, params), params
            )
        state = checkpoint(state)
        previous = ds
        yield ds, user_features_from_state(state, user_windows(interactions, ds), ds)


def item_features(
    interactions: DataFrame, items: DataFrame, ds: dt.date, params: FeatureParams | None = None
) -> DataFrame:
    """One row per item of ``items`` (seen or not), as of the end of day ``ds``.

    - bayes_rating = (m*C + sum of the item's ratings) / (m + number of its ratings), with C the
      mean of all visible ratings (0 when there are none) and m = ``bayes_m``; C for unrated items.
    - trending_score = (n_7d - e) / sqrt(e + s), with e = n_30d * 7/30 the 7-day count expected
      from the 30-day daily rate and s = ``trending_smoothing``: a Poisson-style z-score, > 0 when
      the last week beats the month's pace, growing with volume; 0 for items without events.
    """
    params = params or FeatureParams()
    vis = visible_interactions(interactions, ds)
    stats = vis.groupBy("item_id").agg(
        *_window_counts(ds),
        F.avg("rating").alias("rating_mean"),
        F.sum("rating").alias("_rating_sum"),
        F.count("rating").alias("_rating_n"),
    )
    global_mean = vis.agg(F.coalesce(F.avg("rating"), F.lit(0.0)).alias("_c"))
    m = F.lit(float(params.bayes_m))
    n7 = F.coalesce(F.col("n_interactions_7d"), F.lit(0))
    n30 = F.coalesce(F.col("n_interactions_30d"), F.lit(0))
    n_ratings = F.coalesce(F.col("_rating_n"), F.lit(0))
    expected_7d = n30 * F.lit(7.0 / 30.0)
    bayes = F.when(
        m + n_ratings > 0, (m * F.col("_c") + F.coalesce(F.col("_rating_sum"), F.lit(0.0))) / (m + n_ratings)
    ).otherwise(F.col("_c"))
    trending = (n7 - expected_7d) / F.sqrt(expected_7d + F.lit(float(params.trending_smoothing)))

    out = (
        items.select("item_id", "genres", "year")
        .join(stats, "item_id", "left")
        .crossJoin(F.broadcast(global_mean))
        .select(
            "item_id",
            _ts(snapshot_time(ds)).alias(EVENT_TIMESTAMP),
            n7.alias("n_interactions_7d"),
            n30.alias("n_interactions_30d"),
            F.coalesce(F.col("n_interactions_total"), F.lit(0)).alias("n_interactions_total"),
            F.coalesce(F.col("rating_mean"), F.lit(0.0)).alias("rating_mean"),
            bayes.alias("bayes_rating"),
            trending.alias("trending_score"),
            checked_genres().alias("genres"),
            F.coalesce(F.col("year"), F.lit(0)).alias("year"),
        )
    )
    return _conform(out, item_features_schema())
