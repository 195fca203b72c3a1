"""The feature transforms against hand-computed expectations on tiny hand-made frames.

Snapshot day ds = 2024-01-10: the snapshot is valid from 2024-01-11 00:00 UTC and sees events
strictly before it; the 7-day window starts 2024-01-04 00:00, the 30-day one 2023-12-12 00:00.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.testing import assertDataFrameEqual

from jobs.features.schemas import item_features_schema, user_features_schema
from jobs.features.transforms import (
    FeatureParams,
    genre_affinity,
    item_features,
    user_feature_snapshots,
    user_features,
)
from lambdarec_contracts.tables import GENRES

pytestmark = pytest.mark.spark

DS = dt.date(2024, 1, 10)
SNAPSHOT = dt.datetime(2024, 1, 11, tzinfo=dt.UTC)

ITEMS = [
    ("i1", ["Action", "Comedy"], 1995),
    ("i2", ["Drama"], None),
    ("i3", ["Action"], 2000),
    ("i4", ["Comedy"], 2001),  # never interacted with
]
EVENTS = [
    # user, item, rating, type, event_ts (UTC)
    ("u1", "i1", 5.0, "rating", "2024-01-10 23:59:59"),  # last visible second, in 7d
    ("u1", "i2", 3.0, "rating", "2024-01-04 00:00:00"),  # exactly the 7d window start: in 7d
    ("u1", "i3", None, "click", "2024-01-03 23:59:59"),  # just outside 7d, in 30d
    ("u1", "i2", None, "view", "2023-12-12 00:00:00"),  # exactly the 30d window start: in 30d
    ("u1", "i1", None, "view", "2023-12-11 23:59:59"),  # just outside 30d: total only
    ("u1", "i3", 4.0, "rating", "2024-01-11 00:00:00"),  # the snapshot instant: NOT visible
    ("u2", "i2", 4.0, "rating", "2024-01-05 12:00:00"),
    ("u2", "i3", 4.0, "rating", "2024-01-05 12:00:00"),  # same instant: tie broken by item_id
    ("u3", "i1", None, "like", "2024-01-11 00:00:00"),  # only invisible events: no u3 row
    ("u4", "i2", None, "view", "2024-01-09 08:00:00"),  # no rating, no positive
]


def _affinity(**shares: float) -> list[float]:
    return [shares.get(g, 0.0) for g in GENRES]


def test_user_features_hand_computed(spark, make_interactions, make_items):
    actual = user_features(make_interactions(EVENTS), make_items(ITEMS), DS)
    # u1: visible = 5 events (7d: 2, 30d: 4); ratings 5, 3 -> mean 4, population std 1;
    #     positives i1 (Action|Comedy, half a vote each) and i3 click (Action) -> 0.75 / 0.25.
    # u2: ratings 4, 4 -> std 0; positives i2 (Drama), i3 (Action).
    # u4: one view, nothing rated or liked -> zeros and an empty positive list.
    expected = spark.createDataFrame(
        [
            ("u1", SNAPSHOT, 2, 4, 5, 4.0, 1.0, _affinity(Action=0.75, Comedy=0.25),
             ["i1", "i2", "i3"], ["i1", "i3"], 1704931199),
            ("u2", SNAPSHOT, 2, 2, 2, 4.0, 0.0, _affinity(Action=0.5, Drama=0.5),
             ["i2", "i3"], ["i2", "i3"], 1704456000),
            ("u4", SNAPSHOT, 1, 1, 1, 0.0, 0.0, _affinity(), ["i2"], [], 1704787200),
        ],
        user_features_schema(),
    )  # fmt: skip
    assertDataFrameEqual(actual, expected)


def test_user_features_one_rating_has_zero_std_and_history_is_capped(spark, make_interactions, make_items):
    # 25 distinct items on consecutive days, one of them rated; RECENT_HISTORY_LEN is 20.
    events = [("u9", f"x{n:02d}", None, "view", f"2023-12-{n + 1:02d} 10:00:00") for n in range(25)]
    events.append(("u9", "x03", 2.0, "rating", "2023-12-04 11:00:00"))
    items = [(f"x{n:02d}", ["Drama"], 2000) for n in range(25)]
    row = user_features(make_interactions(events), make_items(items), DS).collect()[0]
    assert row.rating_mean == 2.0
    assert row.rating_std == 0.0
    assert row.recent_items == [f"x{n:02d}" for n in range(24, 4, -1)]  # x24 .. x05, newest first
    assert row.recent_positive_items == []
    assert row.genre_affinity == [0.0] * len(GENRES)
    assert row.n_interactions_total == 26


def test_genre_affinity_splits_votes_over_canonical_genres(spark, make_interactions, make_items):
    items = make_items(
        [("m1", ["Children", "(other)"], 1990), ("m2", ["(other)"], 1991), ("m3", ["Drama"], 1992)]
    )
    positives = make_interactions(
        [("u", "m1", 5.0, "rating", "2024-01-01 00:00:00"), ("u", "m2", None, "like", "2024-01-02 00:00:00"),
         ("u", "m3", 4.0, "rating", "2024-01-03 00:00:00"), ("u", "m3", 4.5, "rating", "2024-01-04 00:00:00")]
    )  # fmt: skip
    # 4 votes: m1 -> Children 1/2, (other) 1/2; m2 -> (other) 1; m3 twice -> Drama 2.
    [row] = genre_affinity(positives, items).collect()
    assert row.genre_affinity == pytest.approx(_affinity(Children=0.125, Drama=0.5, **{"(other)": 0.375}))


@pytest.mark.parametrize(
    "genres",
    [["Children's"], ["Space Opera", "Drama"], [], ["Drama", "Drama"], None],
    ids=["alias", "unknown", "empty", "repeated", "null"],
)
def test_genres_dbt_did_not_canonicalise_fail_the_job(spark, make_interactions, make_items, genres):
    """Cleaning is dbt staging's: Spark asserts instead of mapping again, and names the item."""
    from pyspark.errors import PySparkException

    items = make_items([("m1", genres, 1990), ("m2", ["Drama"], 1991)])
    events = make_interactions([("u", "m1", 5.0, "rating", "2024-01-01 00:00:00")])
    for compute in (
        lambda: genre_affinity(events, items).collect(),
        lambda: item_features(events, items, dt.date(2024, 1, 1)).collect(),
    ):
        with pytest.raises(PySparkException, match="dim_items.genres of item m1 is not a non-empty list"):
            compute()


def test_item_features_hand_computed(spark, make_interactions, make_items):
    actual = item_features(make_interactions(EVENTS), make_items(ITEMS), DS)
    # Visible ratings 5, 3, 4, 4 -> global mean C = 4; m = 10.
    # i1: 7d 1, 30d 1, total 2, ratings [5];  i2: 7d 3, 30d 4, total 4, ratings [3, 4];
    # i3: 7d 1, 30d 2, total 2, ratings [4];  i4: unseen.
    # trending = (n7 - e) / sqrt(e + 1) with e = n30 * 7 / 30.
    expected = spark.createDataFrame(
        [
            ("i1", SNAPSHOT, 1, 1, 2, 5.0, 45 / 11, (1 - 7 / 30) / math.sqrt(7 / 30 + 1),
             ["Action", "Comedy"], 1995),
            ("i2", SNAPSHOT, 3, 4, 4, 3.5, 47 / 12, (3 - 28 / 30) / math.sqrt(28 / 30 + 1),
             ["Drama"], 0),
            ("i3", SNAPSHOT, 1, 2, 2, 4.0, 44 / 11, (1 - 14 / 30) / math.sqrt(14 / 30 + 1),
             ["Action"], 2000),
            ("i4", SNAPSHOT, 0, 0, 0, 0.0, 4.0, 0.0, ["Comedy"], 2001),
        ],
        item_features_schema(),
    )  # fmt: skip
    assertDataFrameEqual(actual, expected)


def test_bayes_weight_is_configurable(spark, make_interactions, make_items):
    events = [("u1", "a", 5.0, "rating", "2024-01-01 00:00:00"), ("u2", "b", 1.0, "rating", "2024-01-01 00:00:00"),
              ("u3", "b", 3.0, "rating", "2024-01-01 00:00:00")]  # fmt: skip
    items = make_items([("a", ["Drama"], 2000), ("b", ["Drama"], 2000)])
    rows = item_features(make_interactions(events), items, DS, FeatureParams(bayes_m=2.0)).collect()
    bayes = {r.item_id: r.bayes_rating for r in rows}
    # C = (5 + 1 + 3) / 3 = 3; a: (2*3 + 5) / 3; b: (2*3 + 4) / 4.
    assert bayes == pytest.approx({"a": 11 / 3, "b": 10 / 4})


def test_snapshot_of_an_earlier_day_sees_less(spark, make_interactions, make_items):
    # ds = 2024-01-04: visible until 2024-01-05 00:00, so u2's events (01-05 12:00) are not.
    rows = user_features(make_interactions(EVENTS), make_items(ITEMS), dt.date(2024, 1, 4)).collect()
    by_user = {r.user_id: (r.n_interactions_7d, r.n_interactions_30d, r.n_interactions_total) for r in rows}
    # u1 as of 01-05 00:00: 7d from 12-29 -> 01-04, 01-03 23:59:59; 30d from 12-06 -> also both 12-1x.
    assert by_user == {"u1": (2, 4, 4)}
    # PySpark returns naive datetimes in the driver's local zone; astimezone() reads them as such.
    assert rows[0].event_timestamp.astimezone(dt.UTC) == dt.datetime(2024, 1, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize("ds", [DS, dt.date(2024, 1, 3), dt.date(2024, 1, 11), dt.date(2024, 2, 10)])
def test_item_activity_counts_the_windows_of_the_snapshot_a_request_reads(
    spark, make_interactions, make_items, ds
):
    """Training reads item_stats' 7/30-day counts at past moments from ``ItemActivity``; a request on
    day ``ds + 1`` reads snapshot ``ds``. Both must count the same events (boundaries included)."""
    import numpy as np

    from lambdarec_contracts.item_activity import ITEM_ACTIVITY_WINDOWS, ItemActivity, day_number

    rows = item_features(make_interactions(EVENTS), make_items(ITEMS), ds).collect()
    index = {item: i + 1 for i, (item, _, _) in enumerate(ITEMS)}
    ts = np.array([e[4].replace(" ", "T") for e in EVENTS], dtype="datetime64[ns]")
    activity = ItemActivity(np.array([index[e[1]] for e in EVENTS]), day_number(ts))
    request_day = int(day_number(np.array([str(ds + dt.timedelta(days=1))], dtype="datetime64[ns]"))[0])
    items = np.array([index[r["item_id"]] for r in rows])
    for d in ITEM_ACTIVITY_WINDOWS:
        spark_counts = [r[f"n_interactions_{d}d"] for r in rows]
        assert activity.counts(items, request_day, d).tolist() == spark_counts
    if dt.date(2024, 1, 3) <= ds <= dt.date(2024, 1, 11):  # days with events in the windows
        assert any(r["n_interactions_7d"] for r in rows) and any(r["n_interactions_30d"] for r in rows)
    np.testing.assert_allclose(
        activity.log_windows(items, request_day),
        np.log1p([[r[f"n_interactions_{d}d"] for d in ITEM_ACTIVITY_WINDOWS] for r in rows]),
        rtol=1e-6,
    )


def _backfill_events(seed: int) -> tuple[list[tuple], list[tuple]]:
    """Events over ~5 weeks that cross the weekly snapshot instants in every way the state merge
    must handle: items a user meets again in later weeks (newest entry wins), positives that come
    after a plain view, same-instant ties, events exactly at a snapshot instant, users who start
    late, items outside dim_items, unrated events, and more distinct items than the recent lists keep."""
    import random

    rng = random.Random(seed)
    items = [(f"i{n:02d}", rng.sample(list(GENRES[:6]), rng.randint(1, 3)), 2000) for n in range(30)]
    ids = [i for i, _, _ in items] + ["gone1", "gone2"]  # the last two are not in dim_items
    start = dt.datetime(2023, 12, 20)
    events = []
    for u in range(40):
        late = dt.timedelta(days=rng.choice([0, 0, 0, 15, 27]))
        for _ in range(rng.randint(1, 40)):
            when = start + late + dt.timedelta(minutes=rng.randrange(0, 34 * 24 * 60, 30))
            if rng.random() < 0.05:  # exactly a snapshot instant (2024-01-04 00:00 + k weeks)
                when = dt.datetime(2024, 1, 4) + dt.timedelta(days=7 * rng.randrange(0, 3))
            kind = rng.choice(["rating", "rating", "view", "click", "like"])
            rating = rng.choice([1.0, 2.5, 3.0, 4.0, 4.5, 5.0]) if kind == "rating" else None
            events.append((f"u{u}", rng.choice(ids[:12] if u % 3 else ids), rating, kind, str(when)))
    return events, items


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_backfill_equals_each_snapshot_computed_alone(
    spark, make_interactions, make_items, tmp_path, seed
):
    from jobs.features.io import ParquetCheckpoint

    events, items = _backfill_events(seed)
    interactions, dim_items = make_interactions(events), make_items(items)
    params = FeatureParams(recent_len=5)
    days = [dt.date(2023, 12, 27) + dt.timedelta(days=7 * k) for k in range(5)]  # 12-27 .. 01-24
    checkpoint = ParquetCheckpoint(spark, tmp_path)
    try:
        compared, seen_days, first_users = 0, [], None
        # Consumed one at a time, as the job writes them: a snapshot reads its state's checkpoint,
        # and only the last two checkpoints are kept.
        for ds, incremental in user_feature_snapshots(interactions, dim_items, days, checkpoint, params):
            seen_days.append(ds)
            got = {r.user_id: r.asDict() for r in incremental.collect()}
            want = {
                r.user_id: r.asDict() for r in user_features(interactions, dim_items, ds, params).collect()
            }
            assert got.keys() == want.keys(), ds
            first_users = set(got) if first_users is None else first_users
            last = got
            for user, row in want.items():
                other = dict(got[user])
                for col in ("rating_mean", "rating_std"):
                    assert other.pop(col) == pytest.approx(row.pop(col), rel=1e-12, abs=1e-12), (
                        ds,
                        user,
                        col,
                    )
                assert other.pop("genre_affinity") == pytest.approx(row.pop("genre_affinity"), abs=1e-6), (
                    ds,
                    user,
                )
                assert other == row, (ds, user)  # counts, recent lists, timestamps: exactly
            compared += len(want)
        assert seen_days == days
        # The data exercised what it should: capped lists, users appearing late, a growing state.
        assert any(len(r["recent_items"]) == 5 for r in last.values())
        assert first_users < set(last)
        assert compared > 100
        # Only the last two states are kept while the backfill runs; close() removes them all.
        assert len(list(checkpoint.directory.iterdir())) == 2
    finally:
        checkpoint.close()
    assert not checkpoint.directory.exists()


def test_backfill_days_must_ascend(spark, make_interactions, make_items, tmp_path):
    from jobs.features.io import ParquetCheckpoint

    days = [dt.date(2024, 1, 10), dt.date(2024, 1, 3)]
    snapshots = user_feature_snapshots(
        make_interactions(EVENTS), make_items(ITEMS), days, ParquetCheckpoint(spark, tmp_path)
    )
    with pytest.raises(ValueError, match="ascending"):
        next(snapshots)
