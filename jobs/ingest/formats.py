"""The raw formats ingestion understands, detected from the files present, and their row mappings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobs.ingest.parsing import (
    ML1M_OCCUPATIONS,
    ML100K_GENRES,
    TagAggregator,
    genre_list,
    is_valid_id,
    one_line,
    optional_int,
    optional_str,
)
from jobs.ingest.readers import TextFormat, iter_rows
from jobs.ingest.report import (
    UNPARSABLE_ID,
    UNPARSABLE_NUMBER,
    UNPARSABLE_TIMESTAMP,
    FileReport,
    IngestError,
)

ML_100K = "ml-100k"
ML_1M = "ml-1m"  # also ml-10m (same ::-separated files, no users.dat, tags.dat)
ML_LATEST = "ml-latest"  # ml-latest, ml-latest-small, ml-20m, ml-25m, ml-32m
LAMBDAREC_SAMPLE = "lambdarec-sample"  # ml-latest CSVs + users.csv + item_descriptions.csv

_LATIN1_PIPE = TextFormat(sep="|", encoding="latin-1")
_LATIN1_DAT = TextFormat(sep="::", encoding="latin-1")
_TAB = TextFormat(sep="\t", encoding="latin-1")


def _csv(*header: str) -> TextFormat:
    return TextFormat(sep=",", encoding="utf-8", header=header)


@dataclass(frozen=True)
class Layout:
    """Which file holds what, and how it is laid out, for one format."""

    name: str
    items: tuple[str, TextFormat]
    ratings: tuple[str, TextFormat]
    users: tuple[str, TextFormat] | None
    tags: tuple[str, TextFormat] | None = None
    descriptions: tuple[str, TextFormat] | None = None
    links: tuple[str, TextFormat] | None = None


LAYOUTS = {
    ML_100K: Layout(
        ML_100K, items=("u.item", _LATIN1_PIPE), ratings=("u.data", _TAB), users=("u.user", _LATIN1_PIPE)
    ),
    ML_1M: Layout(
        ML_1M,
        items=("movies.dat", _LATIN1_DAT),
        ratings=("ratings.dat", _LATIN1_DAT),
        users=("users.dat", _LATIN1_DAT),
        tags=("tags.dat", _LATIN1_DAT),
    ),
    ML_LATEST: Layout(
        ML_LATEST,
        items=("movies.csv", _csv("movieId", "title", "genres")),
        ratings=("ratings.csv", _csv("userId", "movieId", "rating", "timestamp")),
        users=("users.csv", _csv("userId", "gender", "age", "occupation", "zip")),
        tags=("tags.csv", _csv("userId", "movieId", "tag", "timestamp")),
        descriptions=("item_descriptions.csv", _csv("movieId", "description")),
        links=("links.csv", _csv("movieId", "imdbId", "tmdbId")),
    ),
}


def detect_format(raw_dir: Path) -> tuple[str, Layout]:
    """Tell the format from the files present; fail with the list of what was looked for."""
    if not raw_dir.is_dir():
        raise IngestError(f"raw directory {raw_dir} does not exist")
    names = {p.name for p in raw_dir.iterdir() if p.is_file()}
    if "u.data" in names:
        name = ML_100K
    elif "ratings.dat" in names:
        name = ML_1M
    elif "ratings.csv" in names:
        name = LAMBDAREC_SAMPLE if names & {"users.csv", "item_descriptions.csv"} else ML_LATEST
    else:
        raise IngestError(
            f"{raw_dir}: no ratings file found (u.data for ml-100k, ratings.dat for ml-1m/ml-10m, "
            f"ratings.csv for ml-latest/ml-25m or lambdarec sample data); found: {sorted(names) or 'nothing'}"
        )
    layout = LAYOUTS[ML_LATEST if name == LAMBDAREC_SAMPLE else name]
    if layout.items[0] not in names:
        raise IngestError(f"{raw_dir}: {name} format needs {layout.items[0]} next to {layout.ratings[0]}")
    return name, layout


def _key(value: str, report: FileReport, row: int, text: str) -> tuple[bool, str | None]:
    """(ok, id): empty ids land as null (dbt's not_null tests stop on them), malformed ones are rejected."""
    if value == "":
        report.warn("null_id")
        return True, None
    if not is_valid_id(value):
        report.reject(UNPARSABLE_ID)
        report.example(row, UNPARSABLE_ID, text)
        return False, None
    return True, value


def _item(item_id: str | None, raw_title: str, genres: str, year: int | None = None) -> dict:
    # The title lands as written ("Heat (1995)"): dbt staging takes the year out of it.
    return {
        "item_id": item_id,
        "title": one_line(raw_title),
        "genres": genres,
        "year": year,
        "tags": "",
        "description": "",
    }


def read_items(path: Path, fmt: TextFormat, fmt_name: str, report: FileReport) -> list[dict]:
    """Items as landing rows, in file order (duplicate ids are kept: dbt's unique test reports them)."""
    n_fields = 5 + len(ML100K_GENRES) if fmt_name == ML_100K else 3
    rows: list[dict] = []
    seen: set[str | None] = set()
    for row, f in iter_rows(path, fmt, n_fields, report):
        text = fmt.sep.join(f)
        ok, item_id = _key(f[0], report, row, text)
        if not ok:
            continue
        if item_id in seen:
            report.warn("duplicate_item_id")
        seen.add(item_id)
        if fmt_name == ML_100K:
            flags = f[5:]
            if any(flag not in ("0", "1") for flag in flags):
                report.reject(UNPARSABLE_NUMBER)
                report.example(row, UNPARSABLE_NUMBER, text)
                continue
            genres = genre_list(g for g, flag in zip(ML100K_GENRES, flags, strict=True) if flag == "1")
            # u.item's release date ("01-Jan-1995"); dbt prefers the title's year when it has one.
            date = f[2].strip()
            year = int(date[-4:]) if len(date) >= 4 and date[-4:].isdigit() else None
            rows.append(_item(item_id, f[1], genres, year))
        else:
            rows.append(_item(item_id, f[1], genre_list(f[2].split("|"))))
        report.rows_written += 1
    return rows


def read_users(path: Path, fmt: TextFormat, fmt_name: str, report: FileReport) -> list[dict]:
    """Users as landing rows; ml-1m occupation codes become names, ages stay as in the source."""
    rows: list[dict] = []
    for row, f in iter_rows(path, fmt, 5, report):
        text = fmt.sep.join(f)
        ok, user_id = _key(f[0], report, row, text)
        if not ok:
            continue
        if fmt_name == ML_100K:  # id|age|gender|occupation|zip
            age_s, gender, occupation, zip_code = f[1], f[2], f[3], f[4]
        else:  # ml-1m: UserID::Gender::Age::Occupation::Zip-code; sample: userId,gender,age,occupation,zip
            gender, age_s, occupation, zip_code = f[1], f[2], f[3], f[4]
            if fmt_name == ML_1M:
                occupation = ML1M_OCCUPATIONS.get(occupation.strip(), occupation)
        try:
            age = optional_int(age_s)
        except ValueError:
            report.reject(UNPARSABLE_NUMBER)
            report.example(row, UNPARSABLE_NUMBER, text)
            continue
        rows.append(
            {
                "user_id": user_id,
                "gender": optional_str(gender),
                "age": age,
                "occupation": optional_str(occupation),
                "zip_code": optional_str(zip_code),
            }
        )
        report.rows_written += 1
    return rows


def read_tags(path: Path, fmt: TextFormat, report: FileReport) -> TagAggregator:
    """Tags (user, item, tag, timestamp) aggregated per item; the tagging user and time are not landed."""
    tags = TagAggregator()
    for row, f in iter_rows(path, fmt, 4, report):
        text = fmt.sep.join(f)
        if not (is_valid_id(f[0]) and is_valid_id(f[1])):
            report.reject(UNPARSABLE_ID)
            report.example(row, UNPARSABLE_ID, text)
            continue
        try:
            int(f[3])
        except ValueError:
            report.reject(UNPARSABLE_TIMESTAMP)
            report.example(row, UNPARSABLE_TIMESTAMP, text)
            continue
        if tags.add(f[1], f[2]):
            report.rows_written += 1
        else:
            report.warn("empty_tag")
    return tags


def read_descriptions(path: Path, fmt: TextFormat, report: FileReport) -> dict[str, str]:
    """item id -> one-line description (a later row for the same item wins, and is counted)."""
    out: dict[str, str] = {}
    for row, f in iter_rows(path, fmt, 2, report):
        if not is_valid_id(f[0]):
            report.reject(UNPARSABLE_ID)
            report.example(row, UNPARSABLE_ID, fmt.sep.join(f))
            continue
        if f[0] in out:
            report.warn("duplicate_item_id")
        out[f[0]] = one_line(f[1])
        report.rows_written += 1
    return out


def check_links(path: Path, fmt: TextFormat, report: FileReport) -> None:
    """links.csv is validated and counted only: the landing schema has no columns for it."""
    for row, f in iter_rows(path, fmt, 3, report):
        text = fmt.sep.join(f)
        if not is_valid_id(f[0]):
            report.reject(UNPARSABLE_ID)
            report.example(row, UNPARSABLE_ID, text)
        elif not f[1].strip().isdigit() or not (f[2].strip() == "" or f[2].strip().isdigit()):
            report.reject(UNPARSABLE_NUMBER)
            report.example(row, UNPARSABLE_NUMBER, text)
    report.note = "validated only: the landing schema has no columns for external links"
