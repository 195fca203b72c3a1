"""Spark fixtures for tests of the jobs: one SparkSession per test session (start-up is slow)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

UTC = dt.UTC

# Spark DDL of the marts as the feature jobs read them (lambdarec_contracts.tables).
FCT_INTERACTIONS_DDL = (
    "interaction_id string, user_id string, item_id string, rating double, event_type string, "
    "event_ts timestamp, event_date date, is_positive boolean"
)
DIM_ITEMS_DDL = (
    "item_id string, title string, genres array<string>, year int, tags string, description string, "
    "first_seen_ts timestamp"
)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """A local SparkSession built by the jobs' own builder, shared by every Spark test."""
    from jobs.features.session import build_spark_session
    from jobs.features.settings import FeaturesSettings

    settings = FeaturesSettings(
        SPARK_MASTER=os.environ.get("SPARK_MASTER", "local[2]"),
        SPARK_DRIVER_MEMORY=os.environ.get("SPARK_DRIVER_MEMORY", "1g"),
        LAMBDAREC_SPARK_SHUFFLE_PARTITIONS=1,
        LAMBDAREC_DATA_DIR=tmp_path_factory.mktemp("spark-data"),
    )
    # Tiny frames: whole-stage code generation and adaptive planning cost more than they save.
    fast = {"spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false"}
    session = build_spark_session(settings, app_name="lambdarec-tests", extra_conf=fast)
    try:
        yield session
    finally:
        session.stop()


def ts(text: str) -> dt.datetime:
    """'2024-01-10 23:59:59' -> an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def make_interactions(spark: SparkSession) -> Callable[[Sequence[tuple]], DataFrame]:
    """Rows (user_id, item_id, rating, event_type, 'YYYY-MM-DD HH:MM:SS') -> a fct_interactions frame.

    interaction_id, event_date and is_positive are derived the way the dbt mart defines them.
    """

    def build(rows: Sequence[tuple]) -> DataFrame:
        out = []
        for user_id, item_id, rating, event_type, when in rows:
            t = ts(when)
            iid = hashlib.md5(f"{user_id}|{item_id}|{event_type}|{when}".encode()).hexdigest()
            positive = event_type in ("like", "click") or (rating is not None and rating >= 4.0)
            out.append((iid, user_id, item_id, rating, event_type, t, t.date(), positive))
        return spark.createDataFrame(out, FCT_INTERACTIONS_DDL)

    return build


@pytest.fixture
def make_items(spark: SparkSession) -> Callable[[Sequence[tuple]], DataFrame]:
    """Rows (item_id, genres, year) -> a dim_items frame."""

    def build(rows: Sequence[tuple]) -> DataFrame:
        return spark.createDataFrame(
            [(i, f"title {i}", g, y, "", "", None) for i, g, y in rows], DIM_ITEMS_DDL
        )

    return build
