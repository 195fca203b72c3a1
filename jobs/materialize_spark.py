"""Materialization on Spark: the row groups of a view's source are written to Redis by Spark tasks.

Each task reads its Parquet row groups in batches and writes them (``jobs.online_writer``), so
memory is bounded by a batch of a row group, not by the table, and the same code runs on
``local[*]`` or a cluster (``SPARK_MASTER``). What is written per row is exactly what Feast's own
``materialize`` writes (``jobs.online_layout``), and a row only lands when it is newer than the
stored one (``jobs.online_writer``), so writing every row of the interval leaves Redis as Feast's
"latest row per entity" does, without a shuffle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs import online_layout, online_writer
from jobs.online_writer import RedisTarget, ViewLayout
from lambdarec_contracts.features import REF_SEPARATOR

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView
    from pyspark.sql import SparkSession


class UnsupportedForSpark(Exception):
    """The online store or a feature type is outside what the Spark writer reproduces."""


@dataclass(frozen=True)
class ViewWrite:
    """What one view's Spark job read and wrote."""

    rows: int  # rows of the interval read from the source
    written: int  # rows newer than what Redis held (the others were skipped, as Feast does)
    seconds: float


def logical_type(dtype: Any) -> str:
    """Feast feature type -> the encoder's logical name (``UnsupportedForSpark`` otherwise)."""
    from feast.types import Array, Float32, Float64, Int32, Int64, String

    names = {Int64: "int64", Int32: "int32", Float64: "float64", Float32: "float32", String: "string"}
    if dtype in names:
        return names[dtype]
    if isinstance(dtype, Array) and dtype.base_type in (String, Float32, Float64):
        return f"array<{names[dtype.base_type]}>"
    raise UnsupportedForSpark(f"feature type {dtype} has no Spark encoder (use --engine feast)")


def view_layout(store: FeatureStore, view: FeatureView) -> ViewLayout:
    """The view's Redis layout as Feast computes it (names, hash fields, TTL)."""
    from feast.infra.online_stores.helpers import _mmh3
    from feast.infra.online_stores.redis import _versioned_fv_name

    name = _versioned_fv_name(view, store.config)
    if len(view.join_keys) != 1:
        raise UnsupportedForSpark(f"{view.name}: only single join keys are supported, got {view.join_keys}")
    return ViewLayout(
        view=name,
        project=store.project,
        join_key=view.join_keys[0],
        timestamp_field=view.batch_source.timestamp_field,
        features=[(f.name, logical_type(f.dtype)) for f in view.features],
        field_keys=[_mmh3(REF_SEPARATOR.join((name, f.name))) for f in view.features],
        key_ttl_seconds=int(store.config.online_store.key_ttl_seconds or 0),
    )


def redis_target(store: FeatureStore) -> RedisTarget:
    """Feast's own parsing of its Redis connection string (single node only)."""
    from feast.infra.online_stores.redis import RedisOnlineStore, RedisType

    config = store.config.online_store
    if getattr(config, "type", None) != "redis" or config.redis_type != RedisType.redis:
        raise UnsupportedForSpark(
            f"the Spark writer supports a single-node Redis online store, not {config} (use --engine feast)"
        )
    nodes, options = RedisOnlineStore._parse_connection_string(config.connection_string)
    return RedisTarget(host=nodes[0]["host"], port=int(nodes[0]["port"]), options=options)


def _ship_writer_by_value() -> None:
    # Workers of a cluster may not have lambdarec installed: send the two writer modules
    # with the task (they only need numpy, pyarrow and redis there).
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(online_layout)
    cloudpickle.register_pickle_by_value(online_writer)


def _parquet_files(paths: Sequence[Path]) -> list[Path]:
    """The data files under files/partition directories (Spark's _SUCCESS and .crc left out)."""
    files: list[Path] = []
    for p in paths:
        if p.is_file():
            files.append(p)
        else:
            files += sorted(f for f in p.rglob("*.parquet") if not f.name.startswith(("_", ".")))
    return files


def _micros(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def write_view(
    spark: SparkSession,
    store: FeatureStore,
    view_name: str,
    paths: Sequence[Path],
    start: datetime,
    end: datetime,
    *,
    include_start: bool,
) -> ViewWrite:
    """Write the rows of ``paths`` with event time in (start, end] (``[start, end]`` if include_start)."""
    import time

    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    view = store.get_feature_view(view_name)
    layout = view_layout(store, view)
    target = redis_target(store)
    _ship_writer_by_value()
    interval = online_writer.Interval(_micros(start), _micros(end), include_lower=include_start)
    # One unit of work per Parquet row group; Spark spreads them over its tasks (executors read the
    # files themselves, so LAMBDAREC_DATA_DIR must be storage every executor reaches).
    units = [(str(f), rg) for f in _parquet_files(paths) for rg in range(pq.ParquetFile(f).num_row_groups)]
    sc = spark.sparkContext
    slices = max(1, min(len(units), sc.defaultParallelism * 4))
    counts = (
        sc.parallelize(units, slices)
        .mapPartitions(
            partial(online_writer.write_row_groups, layout=layout, target=target, interval=interval)
        )
        .collect()
    )
    return ViewWrite(
        rows=sum(r for r, _ in counts),
        written=sum(w for _, w in counts),
        seconds=time.perf_counter() - t0,
    )
