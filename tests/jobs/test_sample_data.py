"""jobs.sample_data: determinism, MovieLens-like structure, corruptions, and the round trip through ingest."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from jobs.ingest.run import ingest
from jobs.sample_data import activity, stats
from jobs.sample_data.generate import GENRE_NAMES, make_catalogue, make_users
from jobs.sample_data.spec import spec_for
from jobs.sample_data.write import generate

REPO = Path(__file__).resolve().parents[2]
FILES = [
    "movies.csv",
    "ratings.csv",
    "tags.csv",
    "links.csv",
    "users.csv",
    "item_descriptions.csv",
    "sample_manifest.json",
]
DAY = 86_400


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate(spec_for("tiny", seed=42), out)
    return out


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_same_seed_gives_byte_identical_files(tiny: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(spec_for("tiny", seed=42), again)
    for name in FILES:
        assert (again / name).read_bytes() == (tiny / name).read_bytes(), name
    other = tmp_path / "other"
    generate(spec_for("tiny", seed=43), other)
    assert (other / "ratings.csv").read_bytes() != (tiny / "ratings.csv").read_bytes()


def test_tiny_sizes_and_value_ranges(tiny: Path) -> None:
    manifest = json.loads((tiny / "sample_manifest.json").read_text())
    movies, users, ratings = (csv_rows(tiny / n) for n in ("movies.csv", "users.csv", "ratings.csv"))
    assert len(movies) == 200 and len(users) == 150
    assert 4_800 <= len(ratings) <= 5_005
    assert len(ratings) == manifest["rating_rows"]
    assert {r["rating"] for r in ratings} <= {f"{k / 2:.1f}" for k in range(1, 11)}
    assert {r["userId"] for r in ratings} <= {u["userId"] for u in users}
    assert {r["movieId"] for r in ratings} <= {m["movieId"] for m in movies}
    # Six months from 2024-07-01 00:00 UTC (1719792000): every rating inside the window.
    ts = np.array([int(r["timestamp"]) for r in ratings])
    assert ts.min() >= 1_719_792_000 and ts.max() < 1_719_792_000 + 182 * DAY
    # The deliberate anomaly: exactly five rating rows appear twice.
    counts = Counter(tuple(r.values()) for r in ratings)
    assert sorted(c for c in counts.values() if c > 1) == [2, 2, 2, 2, 2]
    assert manifest["duplicate_rating_rows"] == 5


def test_titles_unique_with_year_and_descriptions_mention_genres(tiny: Path) -> None:
    manifest = json.loads((tiny / "sample_manifest.json").read_text())
    movies = csv_rows(tiny / "movies.csv")
    titles = [m["title"] for m in movies]
    assert len(set(titles)) == len(titles)
    no_year = {m["movieId"] for m in movies if not re.search(r" \((19|20)\d\d\)$", m["title"])}
    assert no_year == set(manifest["items_without_year"]) and len(no_year) == 1
    assert any("," in t for t in titles)  # exercises CSV quoting
    assert {m["movieId"] for m in movies if m["genres"] == "(no genres listed)"} == set(
        manifest["items_without_genres"]
    )
    descriptions = {d["movieId"]: d["description"] for d in csv_rows(tiny / "item_descriptions.csv")}
    for m in movies:
        if m["genres"] != "(no genres listed)":
            assert all(g in descriptions[m["movieId"]] for g in m["genres"].split("|")), m


def test_popularity_is_long_tailed(tiny: Path) -> None:
    # Even the tiny sample (17 % dense, so popular items saturate) has a head and a tail.
    per_item = Counter(r["movieId"] for r in csv_rows(tiny / "ratings.csv"))
    counts = sorted(per_item.values(), reverse=True)
    top = counts[: 200 // 10]
    assert sum(top) / sum(counts) > 0.25
    assert counts[0] > 10 * np.median(counts[len(counts) // 2 :])


def test_ratings_follow_the_users_genre_taste(tiny: Path) -> None:
    spec = spec_for("tiny", seed=42)
    catalogue = make_catalogue(spec)
    users = make_users(spec, catalogue)
    genre_names = list(GENRE_NAMES)
    favourite = {str(u + 1): genre_names[int(np.argmax(users.taste[u]))] for u in range(users.n)}
    top3 = {
        str(u + 1): {genre_names[int(j)] for j in np.argsort(-users.taste[u])[:3]} for u in range(users.n)
    }
    genres = {m["movieId"]: set(m["genres"].split("|")) for m in csv_rows(tiny / "movies.csv")}
    liked, other = [], []
    for r in csv_rows(tiny / "ratings.csv"):
        g = genres[r["movieId"]]
        if favourite[r["userId"]] in g:
            liked.append(float(r["rating"]))
        elif not g & top3[r["userId"]]:
            other.append(float(r["rating"]))
    assert len(liked) > 500 and len(other) > 100
    assert np.mean(liked) - np.mean(other) > 0.5
    # Users also pick their favourite genre more often than a taste-blind pick would: the
    # baseline is the share of all ratings that go to items of that genre.
    ratings = csv_rows(tiny / "ratings.csv")
    share = {g: sum(1 for r in ratings if g in genres[r["movieId"]]) / len(ratings) for g in genre_names}
    picked = np.mean([favourite[r["userId"]] in genres[r["movieId"]] for r in ratings])
    baseline = np.mean([share[favourite[r["userId"]]] for r in ratings])
    assert picked > 1.2 * baseline


def test_no_rating_before_release_or_signup_and_users_stay_to_the_end(tiny: Path) -> None:
    spec = spec_for("tiny", seed=42)
    catalogue = make_catalogue(spec)
    users = make_users(spec, catalogue)
    release = dict(zip((str(i) for i in catalogue.movie_ids), catalogue.release_ts.tolist(), strict=True))
    ratings = csv_rows(tiny / "ratings.csv")
    assert all(int(r["timestamp"]) >= release[r["movieId"]] for r in ratings)
    assert all(int(r["timestamp"]) >= users.signup_ts[int(r["userId"]) - 1] for r in ratings)
    # Items released mid-window exist and do get rated (after release).
    late = {m for m, t in release.items() if t > spec.start_ts + 30 * DAY}
    assert len(late) > 10 and sum(1 for r in ratings if r["movieId"] in late) > 100

    # Heavy users keep coming back: most of the heaviest quarter rate in the last two weeks
    # (the small preset is held to more below).
    cut = spec.end_ts - 14 * DAY
    by_user: dict[str, list[int]] = defaultdict(list)
    for r in ratings:
        by_user[r["userId"]].append(int(r["timestamp"]))
    active = sorted(by_user, key=lambda u: -len(by_user[u]))[: len(by_user) // 4]
    assert sum(1 for u in active if max(by_user[u]) >= cut) / len(active) > 0.5


def test_round_trip_through_ingest_rejects_nothing(tiny: Path, tmp_path: Path) -> None:
    report = ingest(tiny, tmp_path / "landing")
    manifest = json.loads((tiny / "sample_manifest.json").read_text())
    assert report.format == "lambdarec-sample"
    assert report.n_rejected == 0
    assert report.n_interactions == manifest["rating_rows"]
    assert (report.n_items, report.n_users) == (200, 150)
    items = pq.read_table(tmp_path / "landing" / "items.parquet").to_pylist()
    assert all(i["description"] for i in items)
    assert sum(1 for i in items if i["tags"]) > 20
    no_genres = set(manifest["items_without_genres"])
    # Landed as the source writes it (dbt staging maps it to "(other)").
    assert {i["item_id"] for i in items if i["genres"] == "(no genres listed)"} == no_genres
    users = pq.read_table(tmp_path / "landing" / "users.parquet").to_pylist()
    assert all(u["gender"] in ("M", "F") and u["age"] >= 16 for u in users)


@pytest.mark.parametrize("mode", ["duplicate-ids", "null-keys", "bad-ratings"])
def test_corrupt_modes_write_the_fault_and_ingest_lands_it_for_dbt(mode: str, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    generate(spec_for("tiny", seed=42, corrupt=mode), raw)  # type: ignore[arg-type]
    report = ingest(raw, tmp_path / "landing")
    landed = pq.read_table(tmp_path / "landing" / "interactions").to_pylist()
    if mode == "duplicate-ids":
        ids = Counter(m["movieId"] for m in csv_rows(raw / "movies.csv"))
        assert sum(1 for c in ids.values() if c > 1) == 3
        items = Counter(
            i["item_id"] for i in pq.read_table(tmp_path / "landing" / "items.parquet").to_pylist()
        )
        assert sum(1 for c in items.values() if c > 1) == 3
        assert next(f for f in report.files if f.file == "movies.csv").warnings == {"duplicate_item_id": 3}
    elif mode == "null-keys":
        assert sum(1 for r in csv_rows(raw / "ratings.csv") if r["userId"] == "") == 5
        assert sum(1 for r in landed if r["user_id"] is None) == 5
        ratings_report = next(f for f in report.files if f.file == "ratings.csv")
        assert ratings_report.warnings == {"null_user_id": 5}
    else:
        assert sum(1 for r in csv_rows(raw / "ratings.csv") if r["rating"] == "7.5") == 5
        assert sum(1 for r in landed if r["rating"] == 7.5) == 5
    assert report.n_rejected == 0  # range and key problems are dbt's to stop on, by test name


def test_cli_summary_and_bad_parameters(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobs.sample_data", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )

    ok = run(
        "--out",
        str(tmp_path / "s"),
        "--preset",
        "tiny",
        "--users",
        "60",
        "--items",
        "80",
        "--interactions",
        "1500",
    )
    assert ok.returncode == 0, ok.stderr
    assert "users: 60" in ok.stdout and "items: 80" in ok.stdout
    assert len(csv_rows(tmp_path / "s" / "users.csv")) == 60
    bad = run("--out", str(tmp_path / "b"), "--preset", "tiny", "--interactions", "100000")
    assert bad.returncode == 2
    assert "do not fit" in bad.stderr and "Traceback" not in bad.stderr


# --- The small preset against published MovieLens statistics (jobs/sample_data/README.md) ---


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, stats.Ratings]:
    out = tmp_path_factory.mktemp("small")
    generate(spec_for("small", seed=42), out)
    return out, stats.load(out)


@pytest.fixture(scope="module")
def small_baselines(small: tuple[Path, stats.Ratings]) -> dict[str, float]:
    return stats.baselines(small[1])


def test_statistics_functions_on_hand_made_data() -> None:
    assert stats.gini(np.array([5, 5, 5, 5])) == 0.0
    assert stats.gini(np.array([0, 0, 0, 8])) == pytest.approx(0.75)
    assert stats.top_share(np.array([50] + [1] * 99), 0.01) == pytest.approx(50 / 149)
    # Two users: u0 rates items 0..4 at t=0..4, u1 rates 5..1 at t=14..10 (listed out of order).
    r = stats.Ratings(
        user=np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]),
        item=np.array([0, 1, 2, 3, 4, 1, 2, 3, 4, 5]),
        rating=np.full(10, 4.0),
        ts=np.array([0, 1, 2, 3, 4, 14, 13, 12, 11, 10]),
        n_users=2,
        n_items=6,
        item_ids=np.arange(6),
    )
    train, test = stats.temporal_split(r)
    assert np.flatnonzero(test).tolist() == [4, 5]  # each user's last item by time: u0 item 4, u1 item 1
    # Items scored by index, seen ones excluded: u0 is offered 5 (miss), u1 is offered 1 (hit).
    ranked = stats.recall_at_k(r, lambda rows: np.tile(np.arange(6.0), (len(rows), 1)), train, test, k=1)
    assert ranked == pytest.approx(0.5)


def test_small_matches_published_movielens_statistics(small: tuple[Path, stats.Ratings]) -> None:
    raw, r = small
    s = stats.distribution(r, start_ts=spec_for("small").start_ts)
    # Bands around the MovieLens figures of the README table (ml-100k / ml-1m / ml-latest-small).
    assert s["user_min"] >= 20
    assert 0.4 <= s["user_median_over_mean"] <= 0.7  # ml-1m 96 / 165.6 = 0.58
    assert s["user_max"] >= 6 * s["user_mean"]  # a long tail of heavy users (ml-1m: 2,314 = 14x mean)
    assert 0.52 <= s["item_gini"] <= 0.75  # ml-100k 0.629, ml-1m 0.634
    assert 0.05 <= s["top1pct_item_share"] <= 0.15
    assert 3.4 <= s["rating_mean"] <= 3.7  # ml-1m 3.58, ml-latest-small 3.50
    assert 0.9 <= s["rating_sd"] <= 1.2
    assert s["mode_rating"] == 4.0  # ml-1m and ml-latest-small alike
    assert 0.42 <= s["share_4_and_up"] <= 0.62  # ml-latest-small ~0.48 (half stars), ml-1m 0.575
    assert 0.10 <= s["share_2_and_below"] <= 0.20  # ml-1m 0.164
    # Sign-up bursts: a user who joins rates a good part of everything on that day.
    assert 0.3 <= s["first_day_share_median"] <= 0.7
    # Drift: the charts of the first and the last month differ, and genres shift.
    assert s["drift_top20_overlap"] <= 0.6
    assert s["drift_late_share_of_items_unrated_early"] >= 0.1
    assert stats.genre_drift(r, raw) >= 0.04


def test_small_has_sessions_and_users_active_at_the_end(small: tuple[Path, stats.Ratings]) -> None:
    _, r = small
    spec = spec_for("small")
    # Ratings come in sessions: a user's ratings fall on far fewer days than there are ratings.
    days = {(int(u), int(t) // DAY) for u, t in zip(r.user, r.ts, strict=True)}
    active_days = np.bincount(np.array([u for u, _ in days]), minlength=r.n_users)
    per_user = np.bincount(r.user, minlength=r.n_users)
    assert np.median(active_days / per_user) < 0.35
    # A global cut two weeks before the end still leaves >= 500 users to evaluate, and the
    # heaviest quarter mostly among them.
    recent = np.unique(r.user[r.ts >= spec.end_ts - 14 * DAY])
    assert len(recent) >= 500
    heavy = np.argsort(-per_user)[: r.n_users // 4]
    assert np.isin(heavy, recent).mean() > 0.8
    # The data ends on the window's last day (the pipeline's ds).
    assert (spec.end_ts - int(r.ts.max())) < DAY


def test_baselines_order_like_on_real_data(
    small: tuple[Path, stats.Ratings], small_baselines: dict[str, float]
) -> None:
    """Per-user temporal 80/20 split, Recall@10 (ml-100k: most-popular 0.112, item-kNN 0.184)."""
    _, r = small
    b = small_baselines
    assert 0.06 <= b["most_popular"] <= 0.2
    assert b["most_popular"] >= 5 * b["random"]
    assert b["item_knn"] >= 1.25 * b["most_popular"]
    # What people rate best is not what they watch next: the best-rated chart loses to popularity.
    assert b["best_rated"] < 0.5 * b["most_popular"]
    # Neither does the generator's own latent quality (perfect knowledge of "how good").
    spec = spec_for("small")
    quality = make_catalogue(spec).quality
    movie_code = {int(m): c for c, m in enumerate(r.item_ids)}
    true_quality = np.full(r.n_items, -np.inf)
    for movie_id, q in zip(make_catalogue(spec).movie_ids, quality, strict=True):
        if int(movie_id) in movie_code:
            true_quality[movie_code[int(movie_id)]] = q
    train, test = stats.temporal_split(r)
    by_quality = stats.recall_at_k(
        r, lambda rows: np.broadcast_to(true_quality, (len(rows), r.n_items)), train, test
    )
    assert by_quality < 0.5 * b["most_popular"]
    # Nor does a perfect *personalized* rating predictor: the generator's own expected rating of
    # every (user, item) (bias + quality + taste match), which is what a ranker trained on rated
    # items learns. Ordering by it predicts what a user likes, not what they watch next.
    users = make_users(spec, make_catalogue(spec))
    catalogue = make_catalogue(spec)
    item_of_code = np.array([np.flatnonzero(catalogue.movie_ids == m)[0] for m in r.item_ids])
    assert r.n_users == users.n  # user codes are user indexes (ids 1..n all rated)

    def expected_rating(rows: np.ndarray) -> np.ndarray:
        u, i = np.repeat(rows, r.n_items), np.tile(item_of_code, len(rows))
        at_end = np.full(len(u), spec.end_ts)
        match = (1 - activity._GENRE_IN_MATCH) * users.match(u, catalogue.cluster[i], at_end)
        match += activity._GENRE_IN_MATCH * activity.genre_match(users, catalogue, u, i)
        score = users.bias[u] + catalogue.quality[i] + activity._TASTE_WEIGHT * match
        return score.reshape(len(rows), r.n_items)

    by_expected_rating = stats.recall_at_k(r, expected_rating, train, test)
    assert by_expected_rating < 0.8 * b["most_popular"] < b["item_knn"]


def test_recent_items_predict_the_next_ones_better(small: tuple[Path, stats.Ratings]) -> None:
    """The sequential signal: item-kNN from a user's last 10 training items beats it from the first 10."""
    _, r = small
    train, test = stats.temporal_split(r)
    order = np.lexsort((r.ts, r.user))
    tu, ti = r.user[order][train[order]], r.item[order][train[order]]
    counts = np.bincount(tu, minlength=r.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(tu)) - starts[tu]
    x = np.zeros((r.n_users, r.n_items), dtype=np.float32)
    x[tu, ti] = 1.0
    norm = np.sqrt(np.maximum(x.sum(axis=0), 1))
    sim = (x.T @ x) / norm[:, None] / norm[None, :]
    np.fill_diagonal(sim, 0.0)
    first = np.zeros_like(x)
    last = np.zeros_like(x)
    first[tu[rank < 10], ti[rank < 10]] = 1.0
    tail = rank >= counts[tu] - 10
    last[tu[tail], ti[tail]] = 1.0
    from_first = stats.recall_at_k(r, lambda rows: first[rows] @ sim, train, test)
    from_last = stats.recall_at_k(r, lambda rows: last[rows] @ sim, train, test)
    assert from_last > 1.05 * from_first


def test_a_larger_ml_1m_shaped_spec_keeps_the_shape(tmp_path: Path) -> None:
    """ml-1m's ratings per user (mean 165.6) on a third of its users: same activity shape."""
    spec = spec_for("small", users=2_000, items=1_800, interactions=331_000)
    generate(spec, tmp_path)
    s = stats.distribution(stats.load(tmp_path), start_ts=spec.start_ts)
    assert s["user_min"] >= 20
    assert 0.4 <= s["user_median_over_mean"] <= 0.7
    assert s["user_max"] >= 0.45 * spec.items  # ml-1m: the heaviest user rated 2,314 of 3,706 items
    assert 0.52 <= s["item_gini"] <= 0.75
    assert 3.4 <= s["rating_mean"] <= 3.7
