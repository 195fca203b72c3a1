"""jobs.online_layout: every encoder against Feast's own protobuf conversion of the same Arrow data."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp

from jobs.online_layout import encode_entity_keys, encode_timestamps, encode_values

CASES = [
    ("int64", pa.array([0, 5, None, -3, 2**40, 127, 128, -(2**63)], pa.int64()), ValueType.INT64),
    (
        "float64",
        pa.array([0.0, -0.0, None, float("nan"), 1.5, 3e300, 1e-310], pa.float64()),
        ValueType.DOUBLE,
    ),
    ("string", pa.array(["", "héllo", None, "x" * 200, "y"]), ValueType.STRING),
    (
        "array<string>",
        pa.array([[], None, ["a", None, "bé"], ["x" * 130] * 3, ["z"]], pa.list_(pa.string())),
        ValueType.STRING_LIST,
    ),
    (
        "array<float32>",
        pa.array([[], None, [1.0, None, 0.1], [0.5] * 40, [-2.0]], pa.list_(pa.float32())),
        ValueType.FLOAT_LIST,
    ),
    ("array<float32>", pa.array([[0.1, 1e-3], None, []], pa.list_(pa.float64())), ValueType.FLOAT_LIST),
]


def _feast(arr: pa.Array, value_type: ValueType) -> list[bytes]:
    return [
        v.SerializeToString()
        for v in python_values_to_proto_values(arr.to_numpy(zero_copy_only=False), value_type)
    ]


@pytest.mark.parametrize(
    ("logical", "arr", "value_type"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_values_match_feast_whole_and_sliced(logical: str, arr: pa.Array, value_type: ValueType) -> None:
    assert encode_values(arr, logical).rows() == _feast(arr, value_type)
    # Spark hands over batches that may be slices of larger buffers.
    for lo, hi in [(1, len(arr)), (2, 4), (len(arr) - 1, len(arr))]:
        part = arr.slice(lo, hi - lo)
        assert encode_values(part, logical).rows() == _feast(part, value_type)


def test_timestamps_match_protobuf() -> None:
    when = [
        datetime(2024, 1, 2, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 2, 0, 0, 0, 5, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
    ]
    expected = []
    for d in when:
        ts = Timestamp()
        ts.FromDatetime(d)
        expected.append(ts.SerializeToString())
    assert encode_timestamps(pa.array(when, pa.timestamp("us", tz="UTC"))).rows() == expected


def test_entity_keys_match_feast_serialization() -> None:
    ids = ["u1", "é" * 70, "", "u-42"]
    expected = [
        serialize_entity_key(EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=v)]), 3)
        + b"lambdarec"
        for v in ids
    ]
    assert encode_entity_keys(pa.array(ids), "user_id", "lambdarec").rows() == expected
    assert encode_entity_keys(pa.array(ids).slice(1, 2), "user_id", "lambdarec").rows() == expected[1:3]
