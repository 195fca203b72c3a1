"""Writes features into Redis in Feast's online-store layout, for tests that run without Feast.

The encoding is written from onnx_wire's protobuf primitives and Feast's documented layout;
the Feast parity test (test_online_features.py) proves reader and Feast agree.
"""

from __future__ import annotations

import struct
from typing import Any

from lambdarec_contracts.features import FEAST_PROJECT
from serving.online_features import entity_redis_key, feature_field
from testing_support import onnx_wire as w


def encode_value(v: Any) -> bytes:
    """A feast.types.Value for the Python types lambdarec features use."""
    if isinstance(v, bool):
        return w.f_int(7, int(v))
    if isinstance(v, int):
        return w.f_int(4, v)
    if isinstance(v, float):
        return w._key(5, 1) + struct.pack("<d", v)
    if isinstance(v, str):
        return w.f_bytes(2, v)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return w.f_bytes(12, b"".join(w.f_bytes(1, x) for x in v))
    if isinstance(v, list):  # float32 list, packed
        return w.f_bytes(16, w.f_bytes(1, b"".join(struct.pack("<f", x) for x in v)))
    raise TypeError(type(v))


def write_entity(r: Any, join_key: str, entity_id: str, view: str, values: dict[str, Any]) -> None:
    """HSET one entity's features of one view (plus the view's _ts field) like Feast does."""
    mapping: dict[bytes | str, bytes] = {f"_ts:{view}": w.f_int(1, 1_700_000_000)}
    for name, v in values.items():
        mapping[feature_field(view, name)] = encode_value(v)
    r.hset(entity_redis_key(join_key, entity_id, FEAST_PROJECT), mapping=mapping)
