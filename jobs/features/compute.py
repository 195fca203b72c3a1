"""CLI of the feature jobs: compute and write user/item feature snapshots for one or more days.

    python -m jobs.features --ds 2024-03-31 [--tables user_features,item_features]
    python -m jobs.features --ds 2024-03-31 --backfill-from 2024-01-01 --every 7

A backfill computes the snapshots of ds, ds - every, ds - 2*every, ... (none before
--backfill-from) in one Spark session, oldest first. Each snapshot overwrites its own
``ds=`` partition only, so any run can be repeated. Exit codes: 0 ok, 1 invalid input
(message on stderr), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyarrow.dataset as pads
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lambdarec_contracts.tables import ITEM_FEATURES_TABLE, USER_FEATURES_TABLE

from .io import InputValidationError, check_mart_files

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from .settings import FeaturesSettings

log = logging.getLogger("jobs.features")

TableName = Literal["user_features", "item_features"]
ALL_TABLES: tuple[TableName, ...] = (USER_FEATURES_TABLE, ITEM_FEATURES_TABLE)  # type: ignore[assignment]


class FeatureJobArgs(BaseModel):
    """Run parameters of one invocation (validated CLI flags)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ds: dt.date
    tables: tuple[TableName, ...] = ALL_TABLES
    backfill_from: dt.date | None = None
    every: int = Field(default=7, ge=1)
    bayes_m: float = Field(default=10.0, ge=0)
    trending_smoothing: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> FeatureJobArgs:
        if not self.tables:
            raise ValueError("--tables must name at least one table")
        if self.backfill_from is not None and self.backfill_from > self.ds:
            raise ValueError("--backfill-from must not be after --ds")
        return self

    def snapshot_dates(self) -> list[dt.date]:
        """ds alone, or ds, ds - every, ... down to backfill_from, oldest first."""
        if self.backfill_from is None:
            return [self.ds]
        dates = []
        day = self.ds
        while day >= self.backfill_from:
            dates.append(day)
            day -= dt.timedelta(days=self.every)
        return dates[::-1]


def parse_args(argv: list[str] | None = None) -> FeatureJobArgs:
    """Parse and validate the command line; raises ValidationError on bad values."""
    p = argparse.ArgumentParser(prog="python -m jobs.features", description=__doc__.split("\n")[0])
    p.add_argument("--ds", required=True, help="snapshot day YYYY-MM-DD (features as of its end, UTC)")
    p.add_argument(
        "--tables", default=",".join(ALL_TABLES), help="comma-separated: user_features,item_features"
    )
    p.add_argument("--backfill-from", help="also compute snapshots every --every days back to this day")
    p.add_argument("--every", type=int, default=7, help="days between backfill snapshots (default 7)")
    p.add_argument("--bayes-m", type=float, default=10.0, help="prior weight of the Bayesian average")
    p.add_argument("--trending-smoothing", type=float, default=1.0, help="pseudo-count of the trending score")
    ns = p.parse_args(argv)
    values = vars(ns)
    values["tables"] = tuple(t.strip() for t in ns.tables.split(",") if t.strip())
    return FeatureJobArgs.model_validate({k: v for k, v in values.items() if v is not None})


def run(spark: SparkSession, settings: FeaturesSettings, args: FeatureJobArgs) -> list[dict[str, object]]:
    """Read and validate the marts, then compute and write every requested snapshot."""
    from .io import Marts, ParquetCheckpoint, check_output, read_marts, validate_marts, write_partition
    from .schemas import output_schema
    from .transforms import FeatureParams, item_features, user_feature_snapshots

    params = FeatureParams(
        bayes_m=args.bayes_m,
        trending_smoothing=args.trending_smoothing,
    )
    marts = read_marts(spark, settings.marts_dir)
    # Every snapshot re-reads the same inputs; keep them in memory (spilling if they must).
    # Validation's scan is the one that fills the cache.
    interactions = marts.interactions.persist()
    items = marts.items.persist()
    days = args.snapshot_dates()
    # A backfill's user snapshots are incremental: each merges the previous one's state with the
    # week between them (one pass over the history, not one per snapshot).
    checkpoint = ParquetCheckpoint(spark, settings.features_dir / USER_FEATURES_TABLE)
    user_snapshots = user_feature_snapshots(interactions, items, days, checkpoint, params)
    written: list[dict[str, object]] = []
    try:
        validate_marts(Marts(items=items, interactions=interactions))
        for ds in days:
            for table in args.tables:
                started = time.monotonic()
                if table == USER_FEATURES_TABLE:
                    snapshot_ds, df = next(user_snapshots)
                    assert snapshot_ds == ds, (snapshot_ds, ds)
                else:
                    df = item_features(interactions, items, ds, params)
                check_output(df, output_schema(table), table)
                path = write_partition(df, settings.features_dir / table, ds, settings.output_files)
                rows = pads.dataset(str(path), format="parquet").count_rows()  # footers only
                seconds = round(time.monotonic() - started, 2)
                log.info("wrote %s ds=%s: %d rows in %.1fs -> %s", table, ds, rows, seconds, path)
                if rows == 0:
                    log.warning("%s ds=%s is empty: no interaction is visible as of that day", table, ds)
                written.append(
                    {
                        "table": table,
                        "ds": ds.isoformat(),
                        "rows": rows,
                        "seconds": seconds,
                        "path": str(path),
                    }
                )
    finally:
        checkpoint.close()
        interactions.unpersist()
        items.unpersist()
    return written


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints a JSON summary of the written partitions on stdout."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO lines are connection chatter
    try:
        args = parse_args(argv)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'args'}: {e['msg']}" for e in exc.errors())
        print(f"jobs.features: invalid arguments: {msgs}", file=sys.stderr)
        return 2

    from .session import build_spark_session
    from .settings import FeaturesSettings

    try:
        settings = FeaturesSettings()
    except ValidationError as exc:
        msgs = "; ".join(e["msg"] for e in exc.errors())
        print(f"jobs.features: invalid Spark settings: {msgs}", file=sys.stderr)
        return 2
    try:
        # Cheap checks first: a missing mart should not cost a JVM start-up.
        check_mart_files(Path(settings.marts_dir))
        spark = build_spark_session(settings)
        try:
            written = run(spark, settings, args)
        finally:
            spark.stop()
    except InputValidationError as exc:
        print(f"jobs.features: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(written, indent=2))
    return 0
