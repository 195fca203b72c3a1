"""Output schemas of the feature tables, derived from ``lambdarec_contracts.features``."""

from __future__ import annotations

from pyspark.sql import types as T

from lambdarec_contracts.features import ITEM_FEATURES, ITEM_JOIN_KEY, USER_FEATURES, USER_JOIN_KEY
from lambdarec_contracts.tables import ITEM_FEATURES_TABLE, USER_FEATURES_TABLE

EVENT_TIMESTAMP = "event_timestamp"

# Contract type names -> Spark types whose Parquet encoding Feast reads
# (int64, double, list<float>, list<string>, timestamp[us, UTC]). Nullability is not part of
# the contract (Spark writes every Parquet column as optional); the transforms never emit nulls.
_SPARK_TYPES: dict[str, T.DataType] = {
    "int64": T.LongType(),
    "float64": T.DoubleType(),
    "array<float32>": T.ArrayType(T.FloatType()),
    "array<string>": T.ArrayType(T.StringType()),
    "string": T.StringType(),
}


def _feature_schema(join_key: str, features: dict[str, str]) -> T.StructType:
    fields = [
        T.StructField(join_key, T.StringType(), nullable=True),
        T.StructField(EVENT_TIMESTAMP, T.TimestampType(), nullable=True),
    ]
    fields += [T.StructField(name, _SPARK_TYPES[kind], nullable=True) for name, kind in features.items()]
    return T.StructType(fields)


def user_features_schema() -> T.StructType:
    """user_id, event_timestamp, then USER_FEATURES in contract order."""
    return _feature_schema(USER_JOIN_KEY, USER_FEATURES)


def item_features_schema() -> T.StructType:
    """item_id, event_timestamp, then ITEM_FEATURES in contract order."""
    return _feature_schema(ITEM_JOIN_KEY, ITEM_FEATURES)


def output_schema(table: str) -> T.StructType:
    """The schema a feature table is written with."""
    if table == USER_FEATURES_TABLE:
        return user_features_schema()
    if table == ITEM_FEATURES_TABLE:
        return item_features_schema()
    raise ValueError(f"unknown feature table {table!r}")
