"""Materialize the batch feature views from the offline Parquet into the Redis online store.

    python -m jobs.materialize --start 2024-01-01T00:00:00+00:00 --end 2024-01-02T00:00:00+00:00 [--apply]

The Spark snapshot of day ``ds=D`` is stamped ``D + 1 day 00:00 UTC`` (when its values became
known), so the interval ``(start, end]`` covers the partitions whose snapshot time falls in it:
for the Airflow data interval of ``ds=D`` (``start=D``, ``end=D+1``) that is exactly ``ds=D``.
Every such partition must exist and pass validation before anything is written, so a missing or
broken partition stops the DAG and Redis keeps its last good values. Re-running an interval is a no-op
for Redis: a row is skipped unless its event timestamp is newer than the stored one (Feast's rule).

``--engine spark`` (default) writes Feast's Redis layout from a Spark job, row group by row group
(``jobs.materialize_spark``; ``SPARK_MASTER`` and the other ``jobs.features`` Spark settings apply);
``--engine feast`` runs Feast's own ``materialize`` (one process, the whole interval in memory). Both
write the same bytes and record the interval in the registry.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from feature_repo.feast_settings import FeastSettings, open_store
from lambdarec_contracts.features import (
    ITEM_FEATURES,
    ITEM_JOIN_KEY,
    ITEM_STATS_VIEW,
    ITEM_TEXT_FEATURES,
    ITEM_TEXT_VIEW,
    USER_FEATURES,
    USER_JOIN_KEY,
    USER_STATS_VIEW,
)
from lambdarec_contracts.tables import ITEM_EMBEDDINGS_TABLE, ITEM_FEATURES_TABLE, USER_FEATURES_TABLE

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("jobs.materialize")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SourceSpec:
    """What one batch feature view reads and how its source is validated."""

    view: str
    join_key: str
    columns: dict[str, str]
    partitioned: bool  # ds=YYYY-MM-DD/ directories (Spark) vs one file (embeddings)

    def path(self, settings: FeastSettings) -> Path:
        if self.view == USER_STATS_VIEW:
            return settings.features_dir / USER_FEATURES_TABLE
        if self.view == ITEM_STATS_VIEW:
            return settings.features_dir / ITEM_FEATURES_TABLE
        return settings.embeddings_dir / f"{ITEM_EMBEDDINGS_TABLE}.parquet"


SOURCES: dict[str, SourceSpec] = {
    USER_STATS_VIEW: SourceSpec(USER_STATS_VIEW, USER_JOIN_KEY, USER_FEATURES, partitioned=True),
    ITEM_STATS_VIEW: SourceSpec(ITEM_STATS_VIEW, ITEM_JOIN_KEY, ITEM_FEATURES, partitioned=True),
    ITEM_TEXT_VIEW: SourceSpec(ITEM_TEXT_VIEW, ITEM_JOIN_KEY, ITEM_TEXT_FEATURES, partitioned=False),
}
DEFAULT_VIEWS = (USER_STATS_VIEW, ITEM_STATS_VIEW, ITEM_TEXT_VIEW)
ENGINES = ("spark", "feast")
# Rows per batch while scanning keys and timestamps for nulls (memory stays flat at any size).
_SCAN_BATCH_ROWS = 65_536


class MaterializeError(Exception):
    """Expected bad input: reported without a stack trace, exit code 2."""


def parse_utc(value: str) -> datetime:
    """ISO date or datetime; naive values are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date/datetime: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def snapshot_time(ds: date) -> datetime:
    """When the snapshot of day ``ds`` becomes valid (jobs.features' convention): ds + 1 day, 00:00 UTC."""
    return datetime.combine(ds + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def partitions_for_interval(start: datetime, end: datetime) -> list[date]:
    """Dates ``D`` of the daily partitions whose snapshot time lies in ``(start, end]``."""
    if end <= start:
        raise MaterializeError(f"--end ({end.isoformat()}) must be after --start ({start.isoformat()})")
    first, last = start.date(), end.date() - timedelta(days=1)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    days = [d for d in days if start < snapshot_time(d) <= end]
    if not days:
        raise MaterializeError(
            f"({start.isoformat()}, {end.isoformat()}] contains no daily snapshot time (00:00 UTC)"
        )
    return days


def _type_matches(field_type: pa.DataType, logical: str) -> bool:
    if logical == "int64":
        return pa.types.is_integer(field_type)
    if logical == "float64":
        return pa.types.is_floating(field_type)
    if logical == "string":
        return pa.types.is_string(field_type) or pa.types.is_large_string(field_type)
    if logical.startswith("array<"):
        if not (pa.types.is_list(field_type) or pa.types.is_large_list(field_type)):
            return False
        return _type_matches(field_type.value_type, logical[len("array<") : -1].replace("float32", "float64"))
    return False


def schema_problems(schema: pa.Schema, spec: SourceSpec) -> list[str]:
    """Missing or mistyped columns of a source file compared with the contract."""
    problems = []
    expected = {spec.join_key: "string", **spec.columns}
    for name, logical in expected.items():
        idx = schema.get_field_index(name)
        if idx < 0:
            problems.append(f"missing column {name!r}")
        elif not _type_matches(schema.field(idx).type, logical):
            problems.append(f"column {name!r} is {schema.field(idx).type}, expected {logical}")
    ts_idx = schema.get_field_index("event_timestamp")
    if ts_idx < 0:
        problems.append("missing column 'event_timestamp'")
    elif not pa.types.is_timestamp(schema.field(ts_idx).type):
        problems.append(f"column 'event_timestamp' is {schema.field(ts_idx).type}, expected a timestamp")
    return problems


def _parquet_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    # Spark leaves _SUCCESS and .crc files next to the data; readers ignore _/. prefixes too.
    return sorted(p for p in path.rglob("*.parquet") if not p.name.startswith(("_", ".")))


def validate_files(files: Iterable[Path], spec: SourceSpec, label: str) -> list[str]:
    """Problems with a set of Parquet files: schema, emptiness, null keys or timestamps."""
    files = list(files)
    if not files:
        return [f"{label}: no Parquet files"]
    problems: list[str] = []
    rows = 0
    for f in files:
        try:
            schema = pq.read_schema(f)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a bad partition
            problems.append(f"{label}: unreadable {f.name}: {exc}")
            continue
        bad = schema_problems(schema, spec)
        if bad:
            problems.append(f"{label}: {f.name}: " + "; ".join(bad))
            continue
        nulls = {spec.join_key: 0, "event_timestamp": 0}
        for batch in pq.ParquetFile(f).iter_batches(batch_size=_SCAN_BATCH_ROWS, columns=list(nulls)):
            rows += batch.num_rows
            for col in nulls:
                nulls[col] += batch.column(col).null_count
        problems += [f"{label}: {f.name}: {n} null {col!r}" for col, n in nulls.items() if n]
    if not problems and rows == 0:
        problems.append(f"{label}: no rows")
    return problems


def validate_sources(
    settings: FeastSettings, start: datetime, end: datetime, views: Sequence[str]
) -> list[str]:
    """Everything wrong with the sources the interval needs (empty list when all is well)."""
    problems: list[str] = []
    days = partitions_for_interval(start, end)
    for view in views:
        spec = SOURCES[view]
        root = spec.path(settings)
        if not spec.partitioned:
            if not root.is_file():
                problems.append(f"{view}: source file {root} is missing")
            else:
                problems += validate_files([root], spec, view)
            continue
        for day in days:
            part = root / f"ds={day.isoformat()}"
            if not part.is_dir():
                problems.append(f"{view}: partition {part} is missing")
                continue
            problems += validate_files(_parquet_files(part), spec, f"{view} ds={day.isoformat()}")
    return problems


def apply_repo(settings: FeastSettings) -> None:
    """``feast apply`` (idempotent: an unchanged repo applies no changes)."""
    from feature_repo.feast_cli import run_feast

    result = run_feast(["apply"], settings, capture=True)
    if result.returncode != 0:
        raise MaterializeError(f"feast apply failed:\n{result.stdout}\n{result.stderr}")
    log.info("feast apply:\n%s", result.stdout.strip())


def source_paths(settings: FeastSettings, view: str, start: datetime, end: datetime) -> list[Path]:
    """The files/partition directories a view reads for the interval (validated beforehand)."""
    spec = SOURCES[view]
    root = spec.path(settings)
    if not spec.partitioned:
        return [root]
    return [root / f"ds={day.isoformat()}" for day in partitions_for_interval(start, end)]


def materialize(
    settings: FeastSettings,
    start: datetime,
    end: datetime,
    views: Sequence[str] = DEFAULT_VIEWS,
    *,
    apply: bool = False,
    engine: str = "spark",
    spark: SparkSession | None = None,
) -> dict[str, float]:
    """Validate the interval's sources, then materialize them; returns timings per view.

    ``spark``: a session to reuse (tests); by default one is built from the jobs' Spark settings
    and stopped at the end.
    """
    unknown = [v for v in views if v not in SOURCES]
    if unknown:
        raise MaterializeError(f"unknown feature view(s) {unknown}; choose from {sorted(SOURCES)}")
    if engine not in ENGINES:
        raise MaterializeError(f"unknown engine {engine!r}; choose from {list(ENGINES)}")
    problems = validate_sources(settings, start, end, views)
    if problems:
        raise MaterializeError(
            "refusing to materialize, the online store was not touched:\n  " + "\n  ".join(problems)
        )
    # The Spark JVM takes seconds to start: it starts in the background while `feast apply` (its
    # own process) runs and the registry is read, so the two fixed costs overlap on two cores.
    with _session_starting(settings, engine, spark) as session:
        if apply:
            apply_repo(settings)
        store = open_store(settings)
        if engine == "feast":
            timings = _materialize_with_feast(store, start, end, views)
        else:
            timings = _materialize_with_spark(settings, store, start, end, views, session())
    stamp_version(settings, end)
    return timings


@contextmanager
def _session_starting(
    settings: FeastSettings, engine: str, spark: SparkSession | None
) -> Iterator[Callable[[], SparkSession | None]]:
    """A function returning the Spark session to write with: ``spark`` when given (a caller such as
    a test owns it), else one started in the background now and stopped at the end; none for the
    Feast engine."""
    if engine != "spark":
        yield lambda: None
        return
    if spark is not None:
        yield lambda: spark
        return
    from pydantic import ValidationError

    from jobs.features.session import job_session_started
    from jobs.features.settings import FeaturesSettings

    try:
        spark_settings = FeaturesSettings(LAMBDAREC_DATA_DIR=str(settings.data_dir))
    except ValidationError as exc:
        raise MaterializeError(f"invalid Spark settings: {exc}") from exc
    with job_session_started(spark_settings, "lambdarec-materialize") as started:
        yield started


def stamp_version(settings: FeastSettings, end: datetime) -> str:
    """Announce the materialized interval to serving, which keeps item features in memory and
    re-reads them when this stamp changes. Written last, after every view succeeded; the same
    interval gives the same stamp, so a re-run stays a no-op for Redis."""
    import redis

    from lambdarec_contracts.redis_keys import FEATURES_VERSION

    stamp = end.isoformat()
    client = redis.Redis.from_url(settings.redis_url)
    try:
        client.set(FEATURES_VERSION, stamp)
    finally:
        client.close()
    return stamp


def _view_start(view: str, start: datetime) -> datetime:
    # The embeddings file holds one row per item whose timestamp is when its content was first
    # known, so it is materialized whole; Redis only takes rows newer than what it holds.
    return EPOCH if not SOURCES[view].partitioned else start


def _materialize_with_feast(store, start: datetime, end: datetime, views: Sequence[str]) -> dict[str, float]:
    timings: dict[str, float] = {}
    for view in views:
        t0 = time.perf_counter()
        view_start = _view_start(view, start)
        # Feast's file store filters inclusively on both ends; +1µs makes the interval (start, end].
        if SOURCES[view].partitioned:
            view_start += timedelta(microseconds=1)
        store.materialize(view_start, end, feature_views=[view])
        timings[view] = time.perf_counter() - t0
    return timings


def _materialize_with_spark(
    settings: FeastSettings,
    store,
    start: datetime,
    end: datetime,
    views: Sequence[str],
    spark: SparkSession,
) -> dict[str, float]:
    from jobs.materialize_spark import UnsupportedForSpark, write_view

    timings: dict[str, float] = {}
    for view in views:
        partitioned = SOURCES[view].partitioned
        view_start = _view_start(view, start)
        paths = source_paths(settings, view, start, end)
        try:
            result = write_view(spark, store, view, paths, view_start, end, include_start=not partitioned)
        except UnsupportedForSpark as exc:
            raise MaterializeError(str(exc)) from exc
        # What Feast's materialize records: the interval, for `feast materialize-incremental`
        # and the registry's view of freshness.
        fv = store.get_feature_view(view)
        recorded_start = view_start + timedelta(microseconds=1) if partitioned else view_start
        store.registry.apply_materialization(fv, store.project, recorded_start, end)
        timings[view] = result.seconds
        log.info(
            "%s: %d rows in the interval, %d newer than Redis written, %.2fs (%.0f rows/s)",
            view,
            result.rows,
            result.written,
            result.seconds,
            result.rows / result.seconds if result.seconds else 0.0,
        )
    return timings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs.materialize", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--start", required=True, type=parse_utc, help="interval start, exclusive (ISO, UTC if naive)"
    )
    parser.add_argument("--end", required=True, type=parse_utc, help="interval end, inclusive (ISO)")
    parser.add_argument("--apply", action="store_true", help="run `feast apply` first (idempotent)")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="spark",
        help="spark: partition-by-partition Spark job (default); feast: Feast's own materialize",
    )
    parser.add_argument(
        "--views",
        nargs="+",
        default=list(DEFAULT_VIEWS),
        help=f"feature views (default: {' '.join(DEFAULT_VIEWS)})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO lines are connection chatter
    try:
        timings = materialize(
            FeastSettings(), args.start, args.end, args.views, apply=args.apply, engine=args.engine
        )
    except MaterializeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for view, seconds in timings.items():
        log.info("materialized %s for (%s, %s] in %.2fs", view, args.start, args.end, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
