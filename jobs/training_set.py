"""Build the point-in-time training set from the interactions mart and the two feature services.

    python -m jobs.training_set --ds 2024-01-31 --start 2024-01-01

One row per interaction with ``event_date`` in ``[start, ds]`` (user_id, item_id, event_timestamp,
rating, event_type, label) plus every user-side feature of ``retrieval_v1`` and ``ranker_v1`` (the
views keyed by ``user_id``) as ``<view>__<feature>``, each as of the interaction's timestamp
(Feast's point-in-time join: a feature row is visible only if its event_timestamp <= the
interaction's). Writes ``training_sets/ds=<ds>/training_set.parquet`` atomically (temp file +
rename).

The item-side views (item stats, the 384-d text embedding, item counters) are left out unless
``--item-views``: training reads the item side from the catalogue, once per item, and on every
row they would be most of the file (~1.6 GB per 1M interactions, the embedding repeated).

``--engine spark`` (default) runs the join as a Spark as-of join on slim rows
(``jobs.training_set_spark``, the ``jobs.features`` Spark settings apply), then attaches the
feature values in Arrow (``jobs.training_set_values``) and streams the result into the file one
row group at a time; ``--engine feast`` runs Feast's ``get_historical_features`` (one view at a time, all
in memory). Both give the same rows, values and column types.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feature_repo.feast_settings import FeastSettings, open_store
from lambdarec_contracts.features import (
    ITEM_JOIN_KEY,
    RANKER_SERVICE,
    RETRIEVAL_SERVICE,
    ref_to_full_name,
    split_ref,
)
from lambdarec_contracts.settings import iso_date_arg
from lambdarec_contracts.tables import FCT_INTERACTIONS, TRAINING_SET_FILE

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("jobs.training_set")
ENGINES = ("spark", "feast")
# pandas writes nanosecond timestamps, which Spark only reads as longs with this set.
_NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"

ROW_COLUMN = "_row"
LABEL_COLUMNS = ["user_id", "item_id", "event_timestamp", "rating", "event_type", "label"]


class TrainingSetError(Exception):
    """Expected bad input: reported without a stack trace, exit code 2."""


def entity_frame(interactions: pd.DataFrame, start: date, ds: date) -> pd.DataFrame:
    """Interactions with event_date in [start, ds] as Feast's entity dataframe (+ label columns)."""
    event_date = pd.to_datetime(interactions["event_ts"], utc=True).dt.date
    rows = interactions.loc[(event_date >= start) & (event_date <= ds)]
    frame = pd.DataFrame(
        {
            "user_id": rows["user_id"].astype(str),
            "item_id": rows["item_id"].astype(str),
            "event_timestamp": pd.to_datetime(rows["event_ts"], utc=True),
            "rating": rows["rating"].astype("float64"),
            "event_type": rows["event_type"].astype(str),
            "label": rows["is_positive"].fillna(False).astype("int64"),
        }
    )
    return frame.reset_index(drop=True)


def service_feature_refs(store, services: Sequence[str]) -> list[str]:
    """``view:feature`` references of the services, deduplicated, in service order."""
    refs: list[str] = []
    for name in services:
        for projection in store.get_feature_service(name).feature_view_projections:
            for feature in projection.features:
                ref = f"{projection.name_to_use()}:{feature.name}"
                if ref not in refs:
                    refs.append(ref)
    return refs


def _has_offline_data(path: str) -> bool:
    p = Path(path)
    return p.is_file() or (p.is_dir() and any(p.rglob("*.parquet")))


def split_by_offline_data(store, refs: list[str]) -> tuple[list[str], list[str]]:
    """Refs whose view has offline data, and refs of views with none yet (e.g. push-only views)."""
    available, missing = [], []
    for ref in refs:
        view = store.get_feature_view(split_ref(ref)[0])
        source = view.batch_source
        (available if _has_offline_data(source.path) else missing).append(ref)
    return available, missing


def _group_by_view(refs: list[str]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for ref in refs:
        groups.setdefault(split_ref(ref)[0], []).append(ref)
    return list(groups.values())


def _integer_columns(store, refs: list[str]) -> list[str]:
    from feast.types import Int32, Int64

    columns = []
    for ref in refs:
        view_name, feature_name = split_ref(ref)
        view = store.get_feature_view(view_name)
        if any(f.name == feature_name and f.dtype in (Int32, Int64) for f in view.features):
            columns.append(ref_to_full_name(ref))
    return columns


def user_side(store, refs: list[str]) -> list[str]:
    """The refs whose view is not keyed by the item (the item side is one row per item, not per
    interaction: training reads it from the catalogue)."""
    return [r for r in refs if ITEM_JOIN_KEY not in store.get_feature_view(split_ref(r)[0]).join_keys]


def _service_refs(settings: FeastSettings, item_views: bool):
    """The store, the model services' feature refs (user side only unless ``item_views``), and
    those refs split by offline data."""
    store = open_store(settings)
    refs = service_feature_refs(store, [RETRIEVAL_SERVICE, RANKER_SERVICE])
    if not item_views:
        refs = user_side(store, refs)
    available, missing = split_by_offline_data(store, refs)
    if missing:
        # Push-only views have no offline history until the speed layer lands it; the columns
        # stay (null) so the schema does not depend on what has landed.
        log.warning(
            "no offline data yet for %s: those columns are null", sorted({split_ref(r)[0] for r in missing})
        )
    return store, refs, available, missing


def _mart(settings: FeastSettings, ds: date, start: date) -> Path:
    if start > ds:
        raise TrainingSetError(f"--start {start} is after --ds {ds}")
    mart = settings.marts_dir / f"{FCT_INTERACTIONS}.parquet"
    if not mart.exists():
        raise TrainingSetError(f"{mart} is missing (run dbt first)")
    return mart


def build_training_set(
    settings: FeastSettings, ds: date, start: date, item_views: bool = False
) -> pd.DataFrame:
    """The point-in-time training set for interactions in [start, ds] (Feast engine, in memory);
    ``item_views``: with the item-side views' columns too."""
    mart = _mart(settings, ds, start)
    interactions = pd.read_parquet(
        mart, columns=["user_id", "item_id", "rating", "event_type", "event_ts", "is_positive"]
    )
    entities = entity_frame(interactions, start, ds)
    if entities.empty:
        raise TrainingSetError(f"no interactions in [{start}, {ds}] in {mart}")

    store, refs, available, missing = _service_refs(settings, item_views)
    t0 = time.perf_counter()
    # Feast returns rows in its own order; an explicit row id restores the input order.
    entities["_row"] = range(len(entities))
    joined = entities
    # One view per call: Feast 0.67's Dask store drops an entity row whose entity has rows in a
    # view's source but only later ones (its TTL filter runs after the left merge), which would
    # lose the row for every view. Per view, the row is re-attached below with that view null.
    for view_refs in _group_by_view(available):
        part = store.get_historical_features(
            entity_df=entities[["_row", "user_id", "item_id", "event_timestamp"]],
            features=view_refs,
            full_feature_names=True,
        ).to_df()
        columns = [ref_to_full_name(r) for r in view_refs]
        joined = joined.merge(part[["_row", *columns]], on="_row", how="left", validate="one_to_one")
    joined = joined.sort_values("_row").drop(columns="_row").reset_index(drop=True)
    # Left merges turn int columns with gaps into floats; keep them integers (nullable).
    for column in _integer_columns(store, available):
        joined[column] = joined[column].astype("Int64")
    for ref in missing:
        joined[ref_to_full_name(ref)] = None
    log.info(
        "point-in-time join of %d rows x %d features in %.2fs",
        len(joined),
        len(refs),
        time.perf_counter() - t0,
    )
    return joined[LABEL_COLUMNS + [ref_to_full_name(r) for r in refs]]


def write_training_set(frame: pd.DataFrame, settings: FeastSettings, ds: date) -> Path:
    """Write ``training_sets/ds=<ds>/training_set.parquet`` (replace, never half-written)."""
    out_dir = settings.training_sets_dir / f"ds={ds.isoformat()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / TRAINING_SET_FILE
    tmp = out_dir / f".{TRAINING_SET_FILE}.tmp"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, target)
    return target


def build_training_set_spark(
    settings: FeastSettings,
    ds: date,
    start: date,
    spark: SparkSession | None = None,
    item_views: bool = False,
) -> tuple[Path, int]:
    """The same training set via a Spark as-of join, streamed to its file; (path, rows)."""
    from jobs.features.session import job_session_started
    from jobs.features.settings import FeaturesSettings

    mart = _mart(settings, ds, start)

    def join(session: SparkSession, inputs: _JoinInputs) -> tuple[Path, int]:
        with _conf_restored(session, _NANOS_AS_LONG):
            return _run_join(session, inputs, settings, mart, ds, start)

    if spark is not None:
        return join(spark, _join_inputs(settings, item_views))
    from pydantic import ValidationError

    try:
        features_settings = FeaturesSettings(LAMBDAREC_DATA_DIR=str(settings.data_dir))
    except ValidationError as exc:
        raise TrainingSetError(f"invalid Spark settings: {exc}") from exc
    # The JVM takes seconds to start (tens on a loaded machine): it starts while this thread
    # reads the Feast registry and the feature tables.
    with job_session_started(features_settings, "lambdarec-training-set") as session:
        inputs = _join_inputs(settings, item_views)
        return join(session(), inputs)


@dataclass(frozen=True)
class _JoinInputs:
    """What the join needs besides the interactions: the services' refs and the feature rows."""

    store: Any
    refs: list[str]  # every feature of the services
    available: list[str]  # those whose view has offline data
    feature_rows: list  # jobs.training_set_values.FeatureRows, one per view with offline data
    seconds: float  # to read them


def _join_inputs(settings: FeastSettings, item_views: bool) -> _JoinInputs:
    from jobs.training_set_values import read_feature_rows

    t0 = time.perf_counter()
    store, refs, available, _ = _service_refs(settings, item_views)
    rows = [read_feature_rows(view) for view in _view_sources(store, available)]
    return _JoinInputs(store, refs, available, rows, time.perf_counter() - t0)


def _view_sources(store, available: list[str]):
    from jobs.training_set_spark import ViewSource

    sources = []
    for view_refs in _group_by_view(available):
        view = store.get_feature_view(split_ref(view_refs[0])[0])
        sources.append(
            ViewSource(
                name=view.name,
                join_key=view.join_keys[0],
                timestamp_field=view.batch_source.timestamp_field,
                ttl=view.ttl,
                path=view.batch_source.path,
                features=[split_ref(r)[1] for r in view_refs],
            )
        )
    return sources


@contextmanager
def _conf_restored(spark: SparkSession, key: str) -> Iterator[None]:
    """The session may be shared (tests): leave ``key`` as it was, whatever the block sets."""
    before = spark.conf.get(key, None)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _run_join(
    spark: SparkSession, inputs: _JoinInputs, settings: FeastSettings, mart: Path, ds: date, start: date
) -> tuple[Path, int]:
    import shutil

    from pyspark.sql import functions as F

    from jobs.training_set_spark import ROW, point_in_time_ids
    from jobs.training_set_values import write_stamps

    t0 = time.perf_counter()
    event_ts = F.col("event_ts")
    if pa.types.is_timestamp(unit := pq.read_schema(mart).field("event_ts").type) and unit.unit == "ns":
        # pandas writes nanoseconds, which Spark only reads as a long; Feast's path reads them too.
        spark.conf.set(_NANOS_AS_LONG, "true")
        event_ts = F.timestamp_micros(F.floor(F.col("event_ts") / 1000))
    interactions = spark.read.parquet(str(mart)).withColumn(ROW, F.monotonically_increasing_id())
    interactions = interactions.withColumn("event_ts", event_ts)
    event_date = F.to_date(F.col("event_ts"))
    entities = interactions.where((event_date >= F.lit(start)) & (event_date <= F.lit(ds))).select(
        ROW,
        F.col("user_id").cast("string").alias("user_id"),
        F.col("item_id").cast("string").alias("item_id"),
        F.col("event_ts").alias("event_timestamp"),
        F.col("rating").cast("double").alias("rating"),
        F.col("event_type").cast("string").alias("event_type"),
        F.coalesce(F.col("is_positive"), F.lit(False)).cast("long").alias("label"),
    )
    views = [rows.view for rows in inputs.feature_rows]
    out_dir = settings.training_sets_dir / f"ds={ds.isoformat()}"
    staging = out_dir / f".{TRAINING_SET_FILE}.parts"
    stamps_dir = out_dir / f".{TRAINING_SET_FILE}.stamps"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(stamps_dir, ignore_errors=True)
        joined = point_in_time_ids(spark, entities, views, write_stamps(inputs.feature_rows, stamps_dir))
        joined.select(ROW, *LABEL_COLUMNS, *[v.id_column for v in views]).write.parquet(str(staging))
        t_spark = time.perf_counter() - t0
        columns = [ref_to_full_name(r) for r in inputs.refs]
        int_columns = _integer_columns(inputs.store, inputs.available)
        target, rows = _concat_parts(staging, out_dir, columns, inputs.feature_rows, int_columns)
        if rows == 0:  # checked on the result: a separate count would be one more Spark job
            shutil.rmtree(staging, ignore_errors=True)
            if not any(out_dir.iterdir()):
                out_dir.rmdir()
            raise TrainingSetError(f"no interactions in [{start}, {ds}] in {mart}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(stamps_dir, ignore_errors=True)
    log.info(
        "point-in-time join (Spark) of %d rows x %d features in %.2fs (registry + feature rows %.2fs, "
        "Spark as-of %.2fs, values + one file %.2fs)",
        rows,
        len(inputs.refs),
        inputs.seconds + time.perf_counter() - t0,
        inputs.seconds,
        t_spark,
        time.perf_counter() - t0 - t_spark,
    )
    return target, rows


def _target_schema(label_schema: pa.Schema, values: dict[str, pa.DataType], columns: list[str]) -> pa.Schema:
    """The Feast path's Arrow types: ns UTC timestamps (pandas), lists with ``item`` fields,
    null type for features whose view has no offline data yet."""
    fields = []
    for name in columns:
        if name in label_schema.names:
            kind = label_schema.field(name).type
        elif name in values:
            kind = values[name]
        else:
            fields.append(pa.field(name, pa.null()))
            continue
        if pa.types.is_timestamp(kind):
            kind = pa.timestamp("ns", tz="UTC")
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            kind = pa.list_(kind.value_type)
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _with_pandas_metadata(table: pa.Table, int_columns: list[str]) -> pa.Schema:
    """The schema plus the pandas metadata the Feast path's ``to_parquet`` writes (nullable Int64
    integer features), so ``pd.read_parquet`` gives the same dtypes either way."""
    frame = table.slice(0, 1).to_pandas()
    for column in int_columns:
        frame[column] = frame[column].astype("Int64")
    return pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False).schema


def _check_order(row_ids: pa.Array, last: int, part: Path) -> int:
    """The interactions' order must survive the join (Feast's path keeps it); fail loudly if not."""
    import pyarrow.compute as pc

    ids = row_ids
    if len(ids) == 0:
        return last
    ordered = ids[0].as_py() > last and (
        len(ids) < 2 or pc.all(pc.greater(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py()
    )
    if not ordered:
        raise TrainingSetError(f"the Spark join returned rows out of the interactions' order ({part.name})")
    return ids[-1].as_py()


# Rows per row group of the training set file (~130 MB of user-side values; with --item-views,
# ~0.5 GB: the 384-d embedding on every row).
_BATCH_ROWS = 262_144


def _concat_parts(
    staging: Path, out_dir: Path, feature_columns: list[str], feature_rows: list, int_columns: list[str]
) -> tuple[Path, int]:
    """Spark's slim part files, in order, with the feature values attached, into one Parquet file,
    one row group at a time."""
    from jobs.training_set_values import attach_values

    parts = sorted(staging.glob("part-*.parquet"))
    target = out_dir / TRAINING_SET_FILE
    tmp = out_dir / f".{TRAINING_SET_FILE}.tmp"
    columns = LABEL_COLUMNS + feature_columns
    value_types = {
        name: rows.values.schema.field(name).type
        for rows in feature_rows
        for name in rows.values.column_names
    }
    writer, schema, rows, last_row = None, None, 0, -1
    try:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=_BATCH_ROWS):
                n = batch.num_rows
                last_row = _check_order(batch.column(ROW_COLUMN), last_row, part)
                if schema is None:
                    schema = _target_schema(batch.schema, value_types, columns)
                found = {name: batch.column(name) for name in LABEL_COLUMNS} | attach_values(
                    batch, feature_rows
                )
                arrays = [
                    found[f.name].cast(f.type) if f.name in found else pa.nulls(n, f.type) for f in schema
                ]
                table = pa.Table.from_arrays(arrays, schema=schema)
                if writer is None:
                    schema = _with_pandas_metadata(table, int_columns)
                    writer = pq.ParquetWriter(tmp, schema)
                writer.write_table(table.replace_schema_metadata(schema.metadata))
                rows += n
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        return target, 0  # nothing written, the previous file (if any) stays
    os.replace(tmp, target)
    return target, rows


def adaptive_start(event_days: np.ndarray, ds: date, min_days: int, max_days: int, max_rows: int) -> date:
    """The training window's first day: as far back as ``max_rows`` interactions reach.

    The window [start, ds] spans at least ``min_days`` days (however dense the data) and at most
    ``max_days``; between the two it grows a whole day at a time while it holds at most ``max_rows``
    interactions, and never starts before the first interaction. Sparse data (a small site, a
    public ratings set spread over years) thus trains on its whole history, dense data on its
    recent weeks.
    """
    if min_days < 1 or max_days < min_days:
        raise TrainingSetError(f"need 1 <= min_days <= max_days, got {min_days}, {max_days}")
    end = np.datetime64(ds, "D")
    days = np.asarray(event_days, dtype="datetime64[D]")
    days = days[days <= end]
    earliest = end - np.timedelta64(max_days - 1, "D")
    earliest = max(earliest, days.min()) if len(days) else end
    per_day = np.bincount((end - days[days >= earliest]).astype(np.int64), minlength=max_days)
    within = np.cumsum(per_day)  # within[k]: interactions in [ds - k, ds]
    span = int((end - earliest).astype(np.int64)) + 1
    k = max(min_days, int(np.searchsorted(within[:span], max_rows, side="right")))
    k = min(k, max(span, min_days))
    return (end - np.timedelta64(k - 1, "D")).astype(date)


def _event_days(settings: FeastSettings) -> np.ndarray:
    mart = settings.marts_dir / f"{FCT_INTERACTIONS}.parquet"
    if not mart.exists():
        raise TrainingSetError(f"{mart} is missing (run dbt first)")
    ts = pq.read_table(mart, columns=["event_ts"]).column("event_ts").to_numpy()
    return ts.astype("datetime64[D]")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.training_set", description=__doc__.split("\n")[0])
    parser.add_argument("--ds", required=True, type=iso_date_arg, help="last interaction date (inclusive)")
    parser.add_argument(
        "--start",
        type=iso_date_arg,
        help="first interaction date (inclusive); default: adapted to the data's density "
        "(--min-days, --max-days, --max-rows)",
    )
    parser.add_argument("--min-days", type=int, default=56, help="shortest adaptive window (days)")
    parser.add_argument("--max-days", type=int, default=365, help="longest adaptive window (days)")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=500_000,
        help="the adaptive window grows while it holds at most this many",
    )
    parser.add_argument(
        "--engine", choices=ENGINES, default="spark", help="spark: Spark as-of join (default); feast: Feast's"
    )
    parser.add_argument(
        "--item-views",
        action="store_true",
        help="also write the item-side views' features on every row (wide: the text embedding per row)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    settings = FeastSettings()
    try:
        if args.start is None:
            args.start = adaptive_start(
                _event_days(settings), args.ds, args.min_days, args.max_days, args.max_rows
            )
            log.info(
                "training window [%s, %s] (adapted: <= %d interactions)", args.start, args.ds, args.max_rows
            )
        if args.engine == "spark":
            target, rows = build_training_set_spark(settings, args.ds, args.start, item_views=args.item_views)
        else:
            frame = build_training_set(settings, args.ds, args.start, item_views=args.item_views)
            target, rows = write_training_set(frame, settings, args.ds), len(frame)
    except TrainingSetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("wrote %s (%d rows, %d columns)", target, rows, len(pq.read_schema(target)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
