"""The SparkSession of the feature jobs: quiet, UTC, sized from settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.features.settings import FeaturesSettings


LOG4J2_CONFIG = Path(__file__).resolve().with_name("log4j2.properties")


def build_spark_session(
    settings: FeaturesSettings, app_name: str = "lambdarec-features", extra_conf: dict[str, str] | None = None
) -> SparkSession:
    """Start (or reuse) a SparkSession configured for the feature jobs (``extra_conf`` wins)."""
    from pyspark.sql import SparkSession

    # Python workers must run this environment's interpreter, not whatever `python` is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if settings.spark_master.startswith("local"):
        # Everything runs in this process: bind to loopback instead of guessing a network address.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName(app_name)
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        # Snapshots are defined in UTC; the JVM's zone must not shift day boundaries.
        .config("spark.sql.session.timeZone", "UTC")
        .config(
            "spark.driver.extraJavaOptions", f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG4J2_CONFIG}"
        )
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        # Feast / pyarrow read INT64 micros as timestamp[us, UTC]; Spark's default INT96 is legacy.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Keep Spark's scratch data out of the current directory.
        .config("spark.sql.warehouse.dir", str(settings.data_dir / "spark-warehouse"))
    )
    if settings.spark_executor_memory:
        builder = builder.config("spark.executor.memory", settings.spark_executor_memory)
    for key, value in {**settings.spark_conf, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


@contextmanager
def job_session(settings: FeaturesSettings, app_name: str) -> Iterator[SparkSession]:
    """The session for one job step: the process's active one if any (left running: a caller such
    as a test owns it), else a new one, stopped at the end."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    spark = build_spark_session(settings, app_name=app_name)
    try:
        yield spark
    finally:
        spark.stop()


@contextmanager
def job_session_started(settings: FeaturesSettings, app_name: str) -> Iterator[Callable[[], SparkSession]]:
    """``job_session`` whose JVM starts in a background thread: the block gets a function that
    waits for the session, so it can do its own work (registry, Arrow reads) in the meantime.
    A session the process already has is used as is and left running."""
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield lambda: active
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-start") as pool:
        starting = pool.submit(build_spark_session, settings, app_name)
        try:
            yield starting.result
        finally:
            # Waits for a start still under way: the session is stopped whatever the block did.
            if starting.exception() is None:
                starting.result().stop()
