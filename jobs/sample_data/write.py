"""Writing generated data as ml-latest CSVs plus users.csv, item_descriptions.csv and a manifest."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from pydantic import BaseModel

from jobs.sample_data.activity import Exposure, make_ratings, make_tags, user_chunks
from jobs.sample_data.generate import NO_GENRES, Catalogue, Users, make_catalogue, make_users, rng_for
from jobs.sample_data.spec import SampleSpec

MANIFEST_FILE = "sample_manifest.json"
N_DUPLICATE_ROWS = 5  # exact duplicate rating rows: dbt's staging dedups and reports them
N_CORRUPT_ROWS = 5
_ANOMALY_STREAM = 5
# Rating strings by half-star index (rating * 2 - 1), as ml-latest writes them ("4.0"); up to
# 10.0 so a corrupted file can carry out-of-range ratings.
_RATING_TEXT = pa.array([f"{k / 2:.1f}" for k in range(1, 21)])


class SampleManifest(BaseModel):
    """What was generated (written next to the data; the loader ignores it)."""

    generator: str = "jobs.sample_data"
    preset: str | None
    seed: int
    users: int
    items: int
    rating_rows: int  # lines of ratings.csv, duplicates included
    distinct_ratings: int
    duplicate_rating_rows: int
    tags: int
    start: str
    end: str
    corrupt: str | None
    corrupt_rows: int
    items_without_genres: list[str]
    items_without_year: list[str]
    never_rated_items: int
    first_rating_ts: int
    last_rating_ts: int


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    # QUOTE_MINIMAL + "\n" line ends: the layout ml-latest uses ("Heat, The (1995)" in quotes).
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _write_catalogue(out: Path, spec: SampleSpec, cat: Catalogue) -> None:
    ids = [str(int(i)) for i in cat.movie_ids]
    movies = [[ids[i], cat.titles[i], "|".join(cat.genres[i]) or NO_GENRES] for i in range(cat.n)]
    if spec.corrupt == "duplicate-ids":
        # Three extra rows reuse existing movieIds: dbt's unique test on items must stop the run.
        movies += [
            [ids[i], f"Duplicate Id Movie {k} (2001)", "Drama"] for k, i in enumerate(range(min(3, cat.n)))
        ]
    _write_csv(out / "movies.csv", ["movieId", "title", "genres"], movies)
    links = [
        [ids[i], f"{int(cat.imdb_ids[i]):07d}", str(int(cat.tmdb_ids[i])) if cat.tmdb_ids[i] else ""]
        for i in range(cat.n)
    ]
    _write_csv(out / "links.csv", ["movieId", "imdbId", "tmdbId"], links)
    _write_csv(
        out / "item_descriptions.csv",
        ["movieId", "description"],
        [[ids[i], cat.descriptions[i]] for i in range(cat.n)],
    )


def _write_users(out: Path, users: Users) -> None:
    rows = [
        [
            str(int(users.user_ids[i])),
            users.gender[i],
            str(int(users.age[i])),
            users.occupation[i],
            users.zip_code[i],
        ]
        for i in range(users.n)
    ]
    _write_csv(out / "users.csv", ["userId", "gender", "age", "occupation", "zip"], rows)


def generate(spec: SampleSpec, out_dir: Path, rows_per_chunk: int = 500_000) -> SampleManifest:
    """Generate the whole sample into ``out_dir`` (created if needed; its files are overwritten)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cat = make_catalogue(spec)
    users = make_users(spec, cat)
    exposure = Exposure.build(spec, cat)
    _write_catalogue(out_dir, spec, cat)
    _write_users(out_dir, users)

    rated = np.zeros(cat.n, dtype=bool)
    n_rows = n_distinct = n_tags = n_dup = 0
    n_corrupt = min(3, cat.n) if spec.corrupt == "duplicate-ids" else 0
    first_ts, last_ts = spec.end_ts, spec.start_ts
    with (
        (out_dir / "ratings.csv").open("wb") as ratings_f,
        (out_dir / "tags.csv").open("w", newline="", encoding="utf-8") as tags_f,
    ):
        ratings_f.write(b"userId,movieId,rating,timestamp\n")
        tag_writer = csv.writer(tags_f, lineterminator="\n")
        tag_writer.writerow(["userId", "movieId", "tag", "timestamp"])
        for chunk, (lo, hi) in enumerate(user_chunks(users, rows_per_chunk)):
            data = make_ratings(spec, cat, users, exposure, lo, hi, chunk)
            n = len(data.user_idx)
            n_distinct += n
            rated[data.item_idx] = True
            if n:
                first_ts, last_ts = min(first_ts, int(data.ts.min())), max(last_ts, int(data.ts.max()))
            user_text = pa.array((data.user_idx + 1).astype(np.int64)).cast(pa.string())
            half_stars = np.round(data.rating * 2).astype(np.int64)
            row_order = np.arange(n)
            if chunk == 0 and n:
                # Deliberate anomalies and corruptions all land in the first chunk.
                arng = rng_for(spec.seed, _ANOMALY_STREAM)
                picks = arng.choice(n, size=min(n, N_DUPLICATE_ROWS + N_CORRUPT_ROWS), replace=False)
                dup, bad = np.sort(picks[:N_DUPLICATE_ROWS]), np.sort(picks[N_DUPLICATE_ROWS:])
                row_order = np.sort(np.concatenate([row_order, dup]), kind="stable")
                n_dup = len(dup)
                if spec.corrupt == "bad-ratings":
                    half_stars[bad] = 15  # 7.5 stars
                    n_corrupt = len(bad)
                elif spec.corrupt == "null-keys":
                    mask = np.zeros(n, dtype=bool)
                    mask[bad] = True
                    user_text = pa.array(
                        np.where(mask, "", np.array(user_text.to_pylist(), dtype=object)), pa.string()
                    )
                    n_corrupt = len(bad)
            take = pa.array(row_order)
            table = pa.table(
                {
                    "userId": user_text.take(take),
                    "movieId": pa.array(cat.movie_ids[data.item_idx]).take(take),
                    "rating": _RATING_TEXT.take(pa.array(half_stars - 1)).take(take),
                    "timestamp": pa.array(data.ts).take(take),
                }
            )
            pacsv.write_csv(table, ratings_f, pacsv.WriteOptions(include_header=False, quoting_style="none"))
            n_rows += table.num_rows
            tags = make_tags(spec, cat, data, chunk)
            tag_writer.writerows(tags)
            n_tags += len(tags)

    manifest = SampleManifest(
        preset=spec.preset,
        seed=spec.seed,
        users=users.n,
        items=cat.n,
        rating_rows=n_rows,
        distinct_ratings=n_distinct,
        duplicate_rating_rows=n_dup,
        tags=n_tags,
        start=spec.start.isoformat(),
        end=spec.end.isoformat(),
        corrupt=spec.corrupt,
        corrupt_rows=n_corrupt,
        items_without_genres=[str(int(cat.movie_ids[i])) for i in range(cat.n) if not cat.genres[i]],
        items_without_year=[str(int(cat.movie_ids[i])) for i in range(cat.n) if cat.years[i] == 0],
        never_rated_items=int((~rated).sum()),
        first_rating_ts=first_ts,
        last_rating_ts=last_ts,
    )
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest.model_dump(), indent=2, sort_keys=True) + "\n")
    return manifest


def summary(manifest: SampleManifest, out_dir: Path, seconds: float) -> str:
    """A short human summary of one generation run."""

    def iso(ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")

    lines = [
        f"generated {manifest.preset or 'custom'} sample (seed {manifest.seed}) in {out_dir} in {seconds:.1f}s",
        f"  ratings: {manifest.rating_rows:,} rows ({manifest.duplicate_rating_rows} deliberate exact duplicates), "
        f"tags: {manifest.tags:,}",
        f"  users: {manifest.users:,}   items: {manifest.items:,} ({manifest.never_rated_items:,} never rated)",
        f"  time span: {iso(manifest.first_rating_ts)} .. {iso(manifest.last_rating_ts)} UTC",
        f"  anomalies: items without genres {manifest.items_without_genres}, "
        f"without year {manifest.items_without_year}",
    ]
    if manifest.corrupt:
        lines.append(
            f"  CORRUPTED on purpose: {manifest.corrupt} ({manifest.corrupt_rows} rows); the pipeline must stop"
        )
    return "\n".join(lines)
