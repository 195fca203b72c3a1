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
    per_item = Counter(r["movieId"] for r in csv_rows(tiny / "ratings.csv"))
    counts = sorted(per_item.values(), reverse=True)
    top = counts[: 200 // 10]
    assert sum(top) / sum(counts) > 0.40
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

    # A time-based split on the last two weeks is meaningful: most active users rate in it.
    cut = spec.end_ts - 14 * DAY
    by_user: dict[str, list[int]] = defaultdict(list)
    for r in ratings:
        by_user[r["userId"]].append(int(r["timestamp"]))
    active = sorted(by_user, key=lambda u: -len(by_user[u]))[: len(by_user) // 4]
    assert sum(1 for u in active if max(by_user[u]) >= cut) / len(active) > 0.8


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
    assert {i["item_id"] for i in items if i["genres"] == "(other)"} == no_genres
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
