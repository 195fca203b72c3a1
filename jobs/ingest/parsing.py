"""Pure parsing helpers: titles, genres, tags, ids and vectorised rating-row conversion."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.ingest.report import UNPARSABLE_ID, UNPARSABLE_RATING, UNPARSABLE_TIMESTAMP
from lambdarec_contracts.events import ID_PATTERN

# ml-100k's u.item genre flag columns, in file order.
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

# ml-1m's users.dat codes occupations as 0..20 (its README); landing keeps the names, as
# ml-100k does, so users from both sources look alike.
ML1M_OCCUPATIONS = {
    "0": "other",
    "1": "academic/educator",
    "2": "artist",
    "3": "clerical/admin",
    "4": "college/grad student",
    "5": "customer service",
    "6": "doctor/health care",
    "7": "executive/managerial",
    "8": "farmer",
    "9": "homemaker",
    "10": "K-12 student",
    "11": "lawyer",
    "12": "programmer",
    "13": "retired",
    "14": "sales/marketing",
    "15": "scientist",
    "16": "self-employed",
    "17": "technician/engineer",
    "18": "tradesman/craftsman",
    "19": "unemployed",
    "20": "writer",
}

_ID = re.compile(ID_PATTERN)
_WS = re.compile(r"\s+")
# Unix seconds beyond this (year ~5138) cannot be a real event and overflow datetime64.
MAX_ABS_TS = 10**11


def genre_list(names: Iterable[str]) -> str:
    """Pipe-join genre names as the source spells them (stripped, empty ones dropped).

    Not mapped or deduplicated here: dbt staging (stg_movielens__items) is the one place that
    maps genres onto the contracts' vocabulary.
    """
    return "|".join(n for n in (name.strip() for name in names) if n)


def one_line(text: str) -> str:
    """Collapse all whitespace (newlines included) to single spaces and strip."""
    return _WS.sub(" ", text).strip()


def clean_tag(text: str) -> str:
    """A tag as it is landed: one line, no "|" (the list separator)."""
    return one_line(text.replace("|", "/"))


def is_valid_id(value: str) -> bool:
    """Ids are kept as strings but must look like ids (the event contract's pattern)."""
    return _ID.fullmatch(value) is not None


def optional_int(value: str) -> int | None:
    """ "" -> None, "25" -> 25; raises ValueError for anything else."""
    value = value.strip()
    return int(value) if value else None


def optional_str(value: str) -> str | None:
    value = value.strip()
    return value or None


@dataclass
class TagAggregator:
    """Collects (item, tag) pairs; per item, distinct tags (case-insensitive) most frequent first.

    Ties keep the order in which tags were first seen, and the first spelling seen is kept.
    """

    _counts: dict[str, Counter[str]] = field(default_factory=dict)
    _spelling: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, item_id: str, tag: str) -> bool:
        """Add one tag; returns False (and ignores it) when the tag is empty after cleaning."""
        tag = clean_tag(tag)
        if not tag:
            return False
        key = tag.lower()
        counts = self._counts.setdefault(item_id, Counter())
        counts[key] += 1
        self._spelling.setdefault(item_id, {}).setdefault(key, tag)
        return True

    def result(self, max_tags: int) -> dict[str, str]:
        out: dict[str, str] = {}
        for item_id, counts in self._counts.items():
            # Counter.most_common is stable for ties (insertion order = first seen).
            keys = [k for k, _ in counts.most_common(max_tags)]
            out[item_id] = "|".join(self._spelling[item_id][k] for k in keys)
        return out


@dataclass
class RatingBlock:
    """The landed rows of one block of a ratings file and what was rejected from it."""

    table: pa.Table  # user_id, item_id, rating, event_ts (landing types), valid rows only
    rejected: Counter[str]
    examples: list[tuple[int, str, str]]  # (row index in block, reason, raw text)
    null_user_ids: int
    null_item_ids: int


def _ids(arr: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Empty -> null (landed, dbt's not_null stops on it); malformed -> flagged as bad."""
    arr = arr.combine_chunks()
    empty = pc.equal(pc.utf8_length(arr), 0)
    ids = pc.if_else(empty, pa.scalar(None, pa.string()), arr)
    ok = pc.match_substring_regex(ids, ID_PATTERN)
    bad = pc.invert(pc.fill_null(ok, True)).to_numpy(zero_copy_only=False)
    return ids, bad


def _to_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _numbers(arr: pa.ChunkedArray, integral: bool) -> tuple[np.ndarray, np.ndarray]:
    """Parse a string column to float64 values plus a bad-value mask.

    The fast path is one Arrow cast; only a block that contains a bad value pays for the
    per-value Python parse that finds which rows are bad.
    """
    arr = arr.combine_chunks()
    try:
        values = pc.cast(arr, pa.int64() if integral else pa.float64()).to_numpy(zero_copy_only=False)
        values = values.astype(np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = [_to_float(v) for v in arr.to_pylist()]
        values = np.array([np.nan if v is None else v for v in parsed], dtype=np.float64)
    bad = ~np.isfinite(values)
    if integral:
        bad |= (np.abs(np.nan_to_num(values)) > MAX_ABS_TS) | (np.nan_to_num(values) % 1 != 0)
    return values, bad


def rating_block(raw: pa.Table, sep: str) -> RatingBlock:
    """Convert one block of (user, item, rating, ts) strings to landing columns.

    A row with several problems is counted once, under the first of: id, rating, timestamp.
    """
    users, bad_user = _ids(raw.column("user_id"))
    items, bad_item = _ids(raw.column("item_id"))
    ratings, bad_rating = _numbers(raw.column("rating"), integral=False)
    ts, bad_ts = _numbers(raw.column("ts"), integral=True)

    bad_id = bad_user | bad_item
    bad_rating &= ~bad_id
    bad_ts &= ~(bad_id | bad_rating)
    valid = ~(bad_id | bad_rating | bad_ts)

    rejected: Counter[str] = Counter()
    examples: list[tuple[int, str, str]] = []
    for reason, mask in (
        (UNPARSABLE_ID, bad_id),
        (UNPARSABLE_RATING, bad_rating),
        (UNPARSABLE_TIMESTAMP, bad_ts),
    ):
        n = int(mask.sum())
        if n:
            rejected[reason] = n
            for i in np.flatnonzero(mask)[:5]:
                row = [raw.column(c)[int(i)].as_py() for c in ("user_id", "item_id", "rating", "ts")]
                examples.append((int(i), reason, sep.join(row)))

    keep = pa.array(valid)
    seconds = pa.array(ts[valid].astype(np.int64))
    table = pa.table(
        {
            "user_id": users.filter(keep),
            "item_id": items.filter(keep),
            "rating": pa.array(ratings[valid], pa.float64()),
            "event_type": pa.repeat(pa.scalar("rating", pa.string()), int(valid.sum())),
            "event_ts": pc.multiply(seconds, 1_000_000).cast(pa.timestamp("us", tz="UTC")),
        }
    )
    return RatingBlock(
        table=table,
        rejected=rejected,
        examples=examples,
        null_user_ids=table.column("user_id").null_count,
        null_item_ids=table.column("item_id").null_count,
    )
