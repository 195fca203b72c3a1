"""Thin I/O around the transforms: read and validate the marts, write one date partition."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as pads

from lambdarec_contracts.tables import (
    DIM_ITEMS,
    DIM_ITEMS_COLUMNS,
    FCT_INTERACTIONS,
    FCT_INTERACTIONS_COLUMNS,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

# The marts the feature jobs read (dim_users carries nothing the features need).
REQUIRED_MARTS = {DIM_ITEMS: DIM_ITEMS_COLUMNS, FCT_INTERACTIONS: FCT_INTERACTIONS_COLUMNS}


class InputValidationError(Exception):
    """The marts are missing or violate their contract; the message says what and where."""


def mart_path(marts_dir: Path, mart: str) -> Path:
    return marts_dir / f"{mart}.parquet"


def _arrow_type_matches(contract_type: str, actual: pa.DataType) -> bool:
    # Type families, not exact widths: an int64 year or a string_view column is still usable.
    if contract_type == "string":
        return (
            pa.types.is_string(actual) or pa.types.is_large_string(actual) or pa.types.is_string_view(actual)
        )
    if contract_type.startswith("list<"):
        return (pa.types.is_list(actual) or pa.types.is_large_list(actual)) and _arrow_type_matches(
            contract_type[5:-1], actual.value_type
        )
    if contract_type.startswith("int"):
        return pa.types.is_integer(actual)
    if contract_type.startswith("float"):
        return pa.types.is_floating(actual) or pa.types.is_integer(actual) or pa.types.is_null(actual)
    if contract_type.startswith("timestamp"):
        return pa.types.is_timestamp(actual)
    if contract_type.startswith("date"):
        return pa.types.is_date(actual) or pa.types.is_timestamp(actual)
    if contract_type == "bool":
        return pa.types.is_boolean(actual)
    raise ValueError(f"no type check for contract type {contract_type!r}")


def check_mart_files(marts_dir: Path) -> None:
    """Fail fast, before Spark starts, when a mart is missing or lacks a contract column."""
    problems: list[str] = []
    for mart, columns in REQUIRED_MARTS.items():
        path = mart_path(marts_dir, mart)
        if not path.exists():
            problems.append(f"{path}: missing (run dbt and export the marts first)")
            continue
        try:
            schema = pads.dataset(str(path), format="parquet").schema
        except (pa.ArrowInvalid, OSError) as exc:
            problems.append(f"{path}: not readable as Parquet ({exc})")
            continue
        missing = [c for c in columns if c not in schema.names]
        if missing:
            problems.append(f"{path}: missing columns {missing} (has {schema.names})")
        wrong = [
            f"{c} is {schema.field(c).type}, expected {kind}"
            for c, kind in columns.items()
            if c in schema.names and not _arrow_type_matches(kind, schema.field(c).type)
        ]
        if wrong:
            problems.append(f"{path}: wrong column types: {'; '.join(wrong)}")
    if problems:
        raise InputValidationError("invalid marts:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Marts:
    """The marts as Spark DataFrames with the contract's columns, in canonical Spark types."""

    items: DataFrame
    interactions: DataFrame


def read_marts(spark: SparkSession, marts_dir: Path) -> Marts:
    """Read the marts, keep the contract columns and cast them to the types the transforms expect."""
    from pyspark.sql import functions as F

    items = spark.read.parquet(str(mart_path(marts_dir, DIM_ITEMS))).select(
        F.col("item_id").cast("string"),
        F.col("title").cast("string"),
        F.col("genres").cast("array<string>"),
        F.col("year").cast("int"),
        F.col("tags").cast("string"),
        F.col("description").cast("string"),
        # A timestamp without zone is taken as UTC (the session zone is UTC).
        F.col("first_seen_ts").cast("timestamp"),
    )
    interactions = spark.read.parquet(str(mart_path(marts_dir, FCT_INTERACTIONS))).select(
        F.col("interaction_id").cast("string"),
        F.col("user_id").cast("string"),
        F.col("item_id").cast("string"),
        F.col("rating").cast("double"),
        F.col("event_type").cast("string"),
        F.col("event_ts").cast("timestamp"),
        F.col("event_date").cast("date"),
        F.col("is_positive").cast("boolean"),
    )
    return Marts(items=items, interactions=interactions)


def validate_marts(marts: Marts) -> None:
    """Non-empty marts, no null keys, unique item ids; raises InputValidationError listing every problem.

    One aggregation pass per mart, so validation costs about one scan.
    """
    from pyspark.sql import functions as F

    def nulls(c: str):
        return F.sum(F.when(F.col(c).isNull(), 1).otherwise(0)).alias(c)

    problems: list[str] = []
    it = marts.items.agg(
        F.count(F.lit(1)).alias("rows"), F.countDistinct("item_id").alias("distinct"), nulls("item_id")
    ).first()
    if it["rows"] == 0:
        problems.append(f"{DIM_ITEMS}: empty")
    if it["item_id"]:
        problems.append(f"{DIM_ITEMS}: {it['item_id']} rows with null item_id")
    if it["rows"] - it["item_id"] != it["distinct"]:
        problems.append(f"{DIM_ITEMS}: {it['rows'] - it['item_id'] - it['distinct']} duplicate item_id rows")

    keys = ("user_id", "item_id", "event_ts")
    fc = marts.interactions.agg(F.count(F.lit(1)).alias("rows"), *[nulls(c) for c in keys]).first()
    if fc["rows"] == 0:
        problems.append(f"{FCT_INTERACTIONS}: empty")
    problems += [f"{FCT_INTERACTIONS}: {fc[c]} rows with null {c}" for c in keys if fc[c]]
    if problems:
        raise InputValidationError("invalid marts:\n  " + "\n  ".join(problems))


def check_output(df: DataFrame, expected: StructType, table: str) -> None:
    """Refuse to write a frame whose column names or types differ from the contract."""
    actual = [(f.name, f.dataType) for f in df.schema.fields]
    wanted = [(f.name, f.dataType) for f in expected.fields]
    if actual != wanted:
        raise RuntimeError(f"{table}: output schema {actual} differs from the contract {wanted}")


def partition_dir(table_dir: Path, ds: dt.date) -> Path:
    return table_dir / f"ds={ds.isoformat()}"


def write_partition(df: DataFrame, table_dir: Path, ds: dt.date, n_files: int = 1) -> Path:
    """Replace exactly the partition ``ds=<ds>`` of ``table_dir`` with ``df``; returns its path.

    Spark writes into a hidden staging directory next to the partition, then the staging
    directory is renamed into place (rename is atomic within one file system), so readers
    never see a half-written partition, a re-run replaces rather than appends, and other
    partitions are never touched. A failed write leaves the old partition as it was.
    The data directory must be a local or mounted file system (the contract's data_dir).
    """
    table_dir.mkdir(parents=True, exist_ok=True)
    target = partition_dir(table_dir, ds)
    token = uuid.uuid4().hex[:12]
    # Names starting with "." or "_" are skipped by Spark, pyarrow and Feast when reading the table.
    staging = table_dir / f".staging-{target.name}-{token}"
    retired = table_dir / f".retired-{target.name}-{token}"
    try:
        df.coalesce(n_files).write.mode("errorifexists").parquet(str(staging))
        if target.exists():
            target.rename(retired)
        try:
            staging.rename(target)
        except OSError:
            if retired.exists():
                retired.rename(target)  # put the old partition back
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    return target


class ParquetCheckpoint:
    """Writes a frame to Parquet under a hidden scratch directory and returns a frame reading it.

    It cuts a plan's lineage (the user-state chain of a backfill) on the storage every worker
    already shares with the driver (the data directory), so it works the same on ``local[*]`` and
    on a cluster, and keeps nothing in executor memory. Only the last two checkpoints are kept
    (the newest may still be read by the snapshot built from it); ``close`` removes them all.
    """

    def __init__(self, spark: SparkSession, parent: Path, name: str = "state") -> None:
        self.spark = spark
        # Hidden: Spark, pyarrow and Feast skip names starting with "." when reading the parent.
        self.directory = parent / f".{name}-{uuid.uuid4().hex[:12]}"
        self._written: list[Path] = []

    def __call__(self, df: DataFrame) -> DataFrame:
        path = self.directory / str(len(self._written))
        df.write.mode("errorifexists").parquet(str(path))
        self._written.append(path)
        for old in self._written[:-2]:
            shutil.rmtree(old, ignore_errors=True)
        return self.spark.read.parquet(str(path))

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
