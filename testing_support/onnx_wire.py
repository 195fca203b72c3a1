"""Tiny hand-written ONNX (protobuf wire) encoder, so serving tests need neither onnx nor TF.

Only what the test models use: tensors (raw float32/int64), nodes with int attributes,
typed graph inputs/outputs, one opset import. Field numbers are those of onnx.proto.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

FLOAT, INT64 = 1, 7
_DTYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.int64): INT64}


def _varint(v: int) -> bytes:
    out = bytearray()
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(num: int, wt: int) -> bytes:
    return _varint(num << 3 | wt)


def f_int(num: int, v: int) -> bytes:
    return _key(num, 0) + _varint(v)


def f_bytes(num: int, v: bytes | str) -> bytes:
    data = v.encode() if isinstance(v, str) else v
    return _key(num, 2) + _varint(len(data)) + data


def tensor(name: str, array: np.ndarray) -> bytes:
    a = np.ascontiguousarray(array)
    out = b"".join(f_int(1, d) for d in a.shape)
    out += (
        f_int(2, _DTYPES[a.dtype])
        + f_bytes(8, name)
        + f_bytes(9, a.astype(a.dtype.newbyteorder("<")).tobytes())
    )
    return out


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], **int_attrs: int) -> bytes:
    out = b"".join(f_bytes(1, i) for i in inputs) + b"".join(f_bytes(2, o) for o in outputs)
    out += f_bytes(3, f"{op}_{outputs[0]}") + f_bytes(4, op)
    for k, v in int_attrs.items():
        out += f_bytes(5, f_bytes(1, k) + f_int(3, v) + f_int(20, 2))  # AttributeProto type INT
    return out


def value_info(name: str, elem_type: int, shape: Sequence[int | str | None]) -> bytes:
    dims = b""
    for d in shape:
        if isinstance(d, int):
            dims += f_bytes(1, f_int(1, d))
        else:
            dims += f_bytes(1, f_bytes(2, d or "N"))
    tensor_type = f_int(1, elem_type) + f_bytes(2, dims)
    return f_bytes(1, name) + f_bytes(2, f_bytes(1, tensor_type))


def model(
    nodes: Sequence[bytes],
    initializers: Sequence[bytes],
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
    opset: int = 13,
) -> bytes:
    graph = b"".join(f_bytes(1, n) for n in nodes) + f_bytes(2, "g")
    graph += b"".join(f_bytes(5, t) for t in initializers)
    graph += b"".join(f_bytes(11, i) for i in inputs) + b"".join(f_bytes(12, o) for o in outputs)
    opset_id = f_bytes(1, "") + f_int(2, opset)
    return f_int(1, 8) + f_bytes(2, "lambdarec-tests") + f_bytes(7, graph) + f_bytes(8, opset_id)


def pack_float(v: float) -> bytes:
    return struct.pack("<f", v)
