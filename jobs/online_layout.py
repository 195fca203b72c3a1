"""Feast's Redis online-store layout, encoded column-wise from Arrow batches (numpy, no protobuf).

Feast 0.67 (redis online store, entity key serialization v3) keeps one hash per entity:
key = serialized entity key + project, field = murmur3_32("<view>:<feature>") (4 bytes LE),
value = serialized ``feast.types.Value``, plus ``_ts:<view>`` = serialized protobuf Timestamp.
Feast builds one protobuf object per value in Python (~10,000 rows/s per core); here every
column of a batch is encoded at once into one buffer, so a batch costs a few numpy passes.

What Feast writes, value by value (``feast.type_map`` / ``feast.utils._convert_arrow_to_proto``),
and therefore what this module writes:
- a null, or NaN in a float column, is an empty ``Value`` (b"");
- a set oneof member is always serialized, zero included (``int64_val=0`` is b"\\x20\\x00");
- a null list is b""; an empty list is the list message with no elements (b"\\x62\\x00");
- a null string inside a list becomes "" (Feast's sanitizer); a null float inside a list is NaN
  (Feast reads lists through numpy);
- float lists are packed float32; a float64 source list is rounded to float32 like protobuf does.
``tests/jobs/test_materialize_spark.py`` writes the same rows both ways and compares the dumps.

Self-contained on purpose (numpy and pyarrow only): Spark ships it to its Python workers.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Feast value types this encoder writes (logical names of lambdarec's contracts, plus int32/float32).
SCALAR_TAGS = {"int64": b"\x20", "int32": b"\x18", "float64": b"\x29", "float32": b"\x35", "string": b"\x12"}
LIST_TAGS = {"array<string>": b"\x62", "array<float32>": b"\x82\x01", "array<float64>": b"\x7a"}
SUPPORTED_TYPES = frozenset(SCALAR_TAGS) | frozenset(LIST_TAGS)
_STRING_VALUE_TYPE = 2  # feast ValueType.STRING in the serialized entity key


@dataclass(frozen=True)
class Encoded:
    """Per-row byte strings of one column, as one buffer and row offsets (n + 1)."""

    buf: np.ndarray  # uint8
    offsets: np.ndarray  # int64

    def rows(self) -> list[bytes]:
        data = self.buf.tobytes()
        o = self.offsets.tolist()
        return [data[o[i] : o[i + 1]] for i in range(len(o) - 1)]


@dataclass(frozen=True)
class _Fixed:
    """A piece of every row given as a matrix; row i uses its first widths[i] bytes."""

    mat: np.ndarray  # (n, w) uint8
    widths: np.ndarray  # (n,) int64


@dataclass(frozen=True)
class _Span:
    """A piece of every row copied from ``data[starts[i] : starts[i] + lens[i]]``."""

    data: np.ndarray  # uint8
    starts: np.ndarray  # int64
    lens: np.ndarray  # int64


def _const(value: bytes, n: int) -> _Fixed:
    mat = np.broadcast_to(np.frombuffer(value, np.uint8), (n, len(value)))
    return _Fixed(mat, np.full(n, len(value), np.int64))


def _varint(values: np.ndarray, present: np.ndarray | None = None) -> _Fixed:
    """Protobuf varints (negative int64 as 10-byte two's complement), empty where not present."""
    u = values.astype(np.int64, copy=False).view(np.uint64)
    widths = np.ones(len(u), np.int64)
    for k in range(1, 10):
        longer = u >= np.uint64(1 << (7 * k))
        if not longer.any():
            break
        widths += longer
    w = int(widths.max()) if len(u) else 1
    mat = np.empty((len(u), w), np.uint8)
    for j in range(w):
        mat[:, j] = ((u >> np.uint64(7 * j)) & np.uint64(0x7F)) | np.where(widths - 1 > j, 0x80, 0).astype(
            np.uint64
        )
    if present is not None:
        widths = np.where(present, widths, 0)
    return _Fixed(mat, widths)


def _flat(piece: _Fixed, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bytes of every kept row in row order, count per row) of a fixed piece."""
    widths = np.where(keep, piece.widths, 0)
    mask = np.arange(piece.mat.shape[1])[None, :] < widths[:, None]
    return piece.mat[mask], widths


def _assemble_around_span(n: int, pieces: Sequence[_Fixed | _Span], keep: np.ndarray) -> Encoded | None:
    """Fast path: one span whose rows lie back to back in its buffer; the fixed pieces are
    inserted around them in one ``np.insert`` (no per-byte index arrays). None if it does not apply."""
    spans = [i for i, p in enumerate(pieces) if isinstance(p, _Span)]
    if len(spans) != 1 or n == 0:
        return None
    span = pieces[spans[0]]
    assert isinstance(span, _Span)
    lens = np.where(keep, span.lens, 0)
    begin = int(span.starts[0])
    if np.any(span.starts != begin + np.concatenate(([0], np.cumsum(lens)[:-1]))):
        return None
    head = [_flat(p, keep) for p in pieces[: spans[0]]]  # type: ignore[arg-type]
    tail = [_flat(p, keep) for p in pieces[spans[0] + 1 :]]  # type: ignore[arg-type]
    head_n = sum((c for _, c in head), np.zeros(n, np.int64))
    tail_n = sum((c for _, c in tail), np.zeros(n, np.int64))
    # Per row: its head bytes go before its payload, its tail bytes after; rows stay in order.
    rel_start = span.starts - begin
    per_row = head_n + tail_n
    values = np.empty(int(per_row.sum()), np.uint8)
    where = np.empty(len(values), np.int64)
    row_off = np.concatenate(([0], np.cumsum(per_row)))
    cursor = row_off[:-1].copy()
    for part, counts in [*head, *tail]:
        is_tail = any(part is t for t, _ in tail)
        if not len(part):
            continue
        dst = np.repeat(cursor, counts) + (
            np.arange(len(part)) - np.repeat(np.cumsum(counts) - counts, counts)
        )
        values[dst] = part
        where[dst] = np.repeat(rel_start + (lens if is_tail else 0), counts)
        cursor += counts
    buf = np.insert(span.data[begin : begin + int(lens.sum())], where, values)
    sizes = per_row + lens
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return Encoded(buf, offsets)


def _assemble(n: int, pieces: Sequence[_Fixed | _Span], present: np.ndarray | None = None) -> Encoded:
    """Row i = concatenation of every piece's row i; rows not ``present`` are empty."""
    keep = np.ones(n, bool) if present is None else present
    fast = _assemble_around_span(n, pieces, keep)
    if fast is not None:
        return fast
    sizes = np.zeros(n, np.int64)
    for p in pieces:
        sizes += p.widths if isinstance(p, _Fixed) else p.lens
    sizes = np.where(keep, sizes, 0)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    buf = np.empty(int(offsets[-1]), np.uint8)
    pos = offsets[:-1].copy()
    for p in pieces:
        if isinstance(p, _Fixed):
            widths = np.where(keep, p.widths, 0)
            for j in range(p.mat.shape[1]):  # byte j of every row that is at least j + 1 long
                sel = widths > j
                if sel.all():
                    buf[pos + j] = p.mat[:, j]
                elif sel.any():
                    buf[pos[sel] + j] = p.mat[sel, j]
            pos += widths
        else:
            lens = np.where(keep, p.lens, 0)
            total = int(lens.sum())
            if total:
                # One index per copied byte: src = start + k, dst = pos + k for k < len.
                first = np.zeros(n, np.int64)
                np.cumsum(lens[:-1], out=first[1:])
                within = np.arange(total, dtype=np.int64) - np.repeat(first, lens)
                buf[np.repeat(pos, lens) + within] = p.data[np.repeat(p.starts, lens) + within]
            pos += lens
    return Encoded(buf, offsets)


def _length_delimited(tag: bytes, data: np.ndarray, starts: np.ndarray, lens: np.ndarray,
                      present: np.ndarray | None) -> Encoded:  # fmt: skip
    n = len(lens)
    return _assemble(n, [_const(tag, n), _varint(lens), _Span(data, starts, lens)], present)


def _binary_parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data bytes, starts, lens) of a string/binary array; null slots get length 0."""
    if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        off_type = np.int64
    else:
        arr = arr.cast(pa.binary()) if pa.types.is_string_view(arr.type) else arr
        off_type = np.int32
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], off_type)[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
    lens = np.diff(offsets)
    if arr.null_count:
        lens = np.where(_valid(arr), lens, 0)
    return data, offsets[:-1], lens


def _valid(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), bool)
    return arr.is_valid().to_numpy(zero_copy_only=False)


def _list_parts(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(elements of this array's rows only, offsets into them): a sliced list array's
    ``values`` is the whole child, which would be re-encoded for every slice."""
    offsets = np.asarray(arr.offsets, dtype=np.int64)
    child = arr.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    return child, offsets - offsets[0]


def encode_values(arr: pa.Array, logical: str) -> Encoded:
    """Serialized ``feast.types.Value`` per row of one feature column (see module docstring)."""
    n = len(arr)
    valid = _valid(arr)
    if logical in ("int64", "int32"):
        ints = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        if logical == "int32":  # int32_val is a varint of the sign-extended 32-bit value
            ints = ints.astype(np.int32).astype(np.int64)
        return _assemble(n, [_const(SCALAR_TAGS[logical], n), _varint(ints)], valid)
    if logical in ("float64", "float32"):
        width, np_type = (8, np.float64) if logical == "float64" else (4, np.float32)
        floats = arr.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False).astype(np_type)
        present = valid & ~np.isnan(floats)  # Feast: pd.isnull(NaN) -> empty Value
        body = _Fixed(floats.view(np.uint8).reshape(n, width), np.full(n, width, np.int64))
        return _assemble(n, [_const(SCALAR_TAGS[logical], n), body], present)
    if logical == "string":
        data, starts, lens = _binary_parts(arr)
        return _length_delimited(SCALAR_TAGS["string"], data, starts, lens, valid)
    if logical == "array<string>":
        child, lo = _list_parts(arr)
        elems = _length_delimited(b"\x0a", *_binary_parts(child), None)
        inner_starts = elems.offsets[lo[:-1]]
        inner_lens = elems.offsets[lo[1:]] - inner_starts
        return _length_delimited(LIST_TAGS[logical], elems.buf, inner_starts, inner_lens, valid)
    if logical in ("array<float32>", "array<float64>"):
        width, np_type, arrow_type = (
            (4, np.float32, pa.float32()) if logical == "array<float32>" else (8, np.float64, pa.float64())
        )
        # Feast reads lists through numpy, where a null float element is NaN.
        child, lo = _list_parts(arr)
        child = child.fill_null(float("nan")).cast(arrow_type)
        data = np.ascontiguousarray(child.to_numpy(zero_copy_only=False).astype(np_type)).view(np.uint8)
        counts = np.diff(lo)
        # Packed repeated floats: an empty list has no field 1 at all (an empty message).
        packed = _length_delimited(b"\x0a", data, lo[:-1] * width, counts * width, valid & (counts > 0))
        return _length_delimited(LIST_TAGS[logical], packed.buf, packed.offsets[:-1],
                                 np.diff(packed.offsets), valid)  # fmt: skip
    raise ValueError(f"no Feast Value encoder for {logical!r}; supported: {sorted(SUPPORTED_TYPES)}")


def encode_timestamps(arr: pa.Array) -> Encoded:
    """Serialized ``google.protobuf.Timestamp`` per row (Feast's ``_ts:<view>`` field; µs precision)."""
    n = len(arr)
    seconds, nanos = _seconds_nanos(arr)
    has_s, has_n = seconds != 0, nanos != 0
    one = np.ones(n, np.int64)
    return _assemble(
        n,
        [
            _Fixed(np.full((n, 1), 0x08, np.uint8), np.where(has_s, one, 0)),
            _varint(seconds, has_s),
            _Fixed(np.full((n, 1), 0x10, np.uint8), np.where(has_n, one, 0)),
            _varint(nanos, has_n),
        ],
    )


def _seconds_nanos(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    # Feast goes through Python datetimes: sub-microsecond digits are dropped.
    us = pc.cast(arr, pa.timestamp("us", tz=getattr(arr.type, "tz", None)), safe=False)
    micros = pc.cast(us, pa.int64()).to_numpy(zero_copy_only=False)
    seconds = np.floor_divide(micros, 1_000_000)
    return seconds, (micros - seconds * 1_000_000) * 1000


def timestamp_parts(arr: pa.Array) -> tuple[list[int], list[int]]:
    """(seconds, nanos) per row, as the Redis script compares them."""
    seconds, nanos = _seconds_nanos(arr)
    return seconds.tolist(), nanos.tolist()


def encode_entity_keys(arr: pa.Array, join_key: str, project: str) -> Encoded:
    """Redis key per row: serialize_entity_key(v3) of one string join key, then the project name."""
    n = len(arr)
    k = join_key.encode()
    prefix = struct.pack("<III", 1, _STRING_VALUE_TYPE, len(k)) + k + struct.pack("<I", _STRING_VALUE_TYPE)
    data, starts, lens = _binary_parts(arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr)
    len_le = lens.astype("<u4").view(np.uint8).reshape(n, 4)
    return _assemble(
        n,
        [_const(prefix, n), _Fixed(len_le, np.full(n, 4, np.int64)), _Span(data, starts, lens),
         _const(project.encode(), n)],
    )  # fmt: skip
