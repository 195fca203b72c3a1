"""The training set's list-valued user features, stored compactly.

Every row of the Feast training set carries the user's ``user_stats`` as of that row, three of
them lists: ``recent_items`` and ``recent_positive_items`` (up to 20 ids each) and
``genre_affinity`` (a float per genre). Read into pandas, each list is a numpy array object:
~200-300 bytes a row per column, together most of the training process's memory on the 10m
preset. Training reads them from Parquet a batch at a time instead:

- ``recent_items`` (the query tower's history) as int32 codes into one array of distinct ids,
  in CSR form (~4 bytes an entry), turned into model inputs with array operations;
- ``genre_affinity`` as the float32 slots ``user_vector`` makes of it, one row per set row;
- anything else (``recent_positive_items``, the raw values serving is replayed with) only for
  the rows asked for (``raw_rows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lambdarec_contracts.feature_vectors import genre_affinity_slots, user_matrix
from lambdarec_contracts.tables import GENRES

READ_BATCH_ROWS = 1 << 18
MAX_VALUES = 128  # fixed-width values per row (genre slots + scalar features) the row hash covers


@dataclass
class RecentItems:
    """Row ``r``'s list is ``ids[codes[offsets[r]:offsets[r + 1]]]`` (a null list is empty)."""

    ids: np.ndarray  # object [D]: the distinct ids the lists hold
    offsets: np.ndarray  # int64 [N + 1]
    codes: np.ndarray  # int32 [offsets[-1]]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_lists(cls, lists: Sequence[Sequence[Any] | None]) -> RecentItems:
        """From Python/numpy sequences (``None`` = no list); ids are compared as strings."""
        index: dict[str, int] = {}
        lengths = np.fromiter((0 if h is None else len(h) for h in lists), np.int64, len(lists))
        codes = np.fromiter(
            (index.setdefault(str(x), len(index)) for h in lists if h is not None for x in h),
            np.int32,
            int(lengths.sum()),
        )
        return cls(_ids(index), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), codes)

    def lists(self, rows: Sequence[int] | np.ndarray) -> list[list[str]]:
        """The lists of the rows at these positions."""
        o, c, ids = self.offsets, self.codes, self.ids
        return [ids[c[o[r] : o[r + 1]]].tolist() for r in np.asarray(rows, np.int64)]

    def history(
        self,
        rows: Sequence[int] | np.ndarray,
        vocab_index: dict[str, int],
        history_len: int,
        drop: Sequence[str] | None = None,
    ) -> np.ndarray:
        """``data.history_arrays`` of these rows' lists: vocabulary indices [N, history_len] (0 =
        padding or an id outside the vocabulary, in its place), the row's ``drop`` id removed."""
        rows = np.asarray(rows, np.int64)
        to_vocab = np.fromiter((vocab_index.get(x, 0) for x in self.ids), np.int64, len(self.ids))
        starts = self.offsets[rows]
        lengths = self.offsets[rows + 1] - starts
        width = int(lengths.max()) if len(rows) else 0
        out = np.zeros((len(rows), history_len), np.int64)
        if width == 0:
            return out
        col = np.arange(width)
        present = col[None, :] < lengths[:, None]
        code = np.where(
            present, self.codes[np.minimum(starts[:, None] + col, max(len(self.codes) - 1, 0))], 0
        )
        if drop is not None:
            code_of = {x: i for i, x in enumerate(self.ids)}
            drop_code = np.fromiter((code_of.get(str(x), -1) for x in drop), np.int64, len(rows))
            present &= code != drop_code[:, None]
        # Keep the present entries in order (a stable sort moves the absent ones to the end).
        order = np.argsort(~present, axis=1, kind="stable")[:, :history_len]
        kept = np.take_along_axis(present, order, axis=1)
        idx = np.where(kept, to_vocab[np.take_along_axis(code, order, axis=1)], 0)
        out[:, : idx.shape[1]] = idx
        return out


@dataclass
class UserLists:
    """The list-valued user features of every training-set row, by row position.

    With them, the scalar features ``user_vector`` reads. Rows of the same user between two feature
    snapshots carry the very same values, so each distinct (recent items, genre affinity, scalars)
    row is stored once and ``row_of`` maps a set row to it (10m preset: 3.35M set rows, 259k
    distinct, 67 MB instead of ~700 MB).
    """

    recent: RecentItems  # one list per distinct row
    affinity_rows: np.ndarray  # float32 [D, len(GENRES)]: genre_affinity_slots of each distinct row
    scalar_rows: dict[str, np.ndarray]  # full name -> float64 [D] (NaN = null): user_vector's scalars
    row_of: np.ndarray  # int32 [N]: set row -> distinct row

    def __len__(self) -> int:
        return len(self.row_of)

    def user_matrix(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """``user_vector`` of these set rows (float32 [len(rows), len(USER_VECTOR_NAMES)])."""
        distinct = self.row_of[np.asarray(rows, np.int64)]
        return user_matrix(
            {c: v[distinct] for c, v in self.scalar_rows.items()}, self.affinity_rows[distinct]
        )

    def recent_lists(self, rows: Sequence[int] | np.ndarray) -> list[list[str]]:
        """The recent-item lists of these set rows."""
        return self.recent.lists(self.row_of[np.asarray(rows, np.int64)])


# Random odd multipliers of the row hash (uint64 arithmetic wraps around).
_MULT = np.random.default_rng(0x5EED).integers(
    1, 2**63, size=64 + MAX_VALUES + 1, dtype=np.uint64
) | np.uint64(1)


def _row_hashes(lengths: np.ndarray, codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A 64-bit hash (uint64 [N]) of each row's (list of codes, fixed-width values as uint64 bits):
    equal rows hash equally; unequal rows rarely do, and ``_Distinct`` compares the values anyway."""
    starts = (np.cumsum(lengths) - lengths).astype(np.int64)
    elem = (codes.astype(np.uint64) + np.uint64(1)) * _MULT[_positions(lengths) % 64]
    total = np.concatenate([np.zeros(1, np.uint64), np.cumsum(elem, dtype=np.uint64)])
    h = total[starts + lengths] - total[starts]
    h += lengths.astype(np.uint64) * _MULT[-1]
    return h + (values * _MULT[64 : 64 + values.shape[1]]).sum(axis=1, dtype=np.uint64)


class _Distinct:
    """Distinct (codes list, fixed-width values) rows: found by hash, confirmed by comparing them."""

    def __init__(self, width: int) -> None:
        self.hashes = np.zeros(0, np.uint64)  # distinct hashes seen ...
        self.hash_ids = np.zeros(0, np.int64)  # ... and the distinct row each stands for
        self.lengths = np.zeros(0, np.int64)
        self.codes = np.zeros(0, np.int32)
        self.values = np.zeros((0, width), np.uint64)

    def add(self, lengths: np.ndarray, codes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Distinct-row ids of a batch's rows (new distinct rows appended in order of appearance)."""
        h = _row_hashes(lengths, codes, values)
        inverse, uniq = pd.factorize(h)
        first = np.unique(inverse, return_index=True)[1]  # each hash's first row in the batch
        pos = pd.Index(self.hashes).get_indexer(uniq)
        ids = np.full(len(uniq), -1, np.int64)
        ids[pos >= 0] = self.hash_ids[pos[pos >= 0]]
        new = ids < 0
        ids[new] = len(self.lengths) + np.arange(int(new.sum()))
        self._append(first[new], lengths, codes, values)
        self.hashes = np.concatenate([self.hashes, uniq[new]])
        self.hash_ids = np.concatenate([self.hash_ids, ids[new]])
        row_ids = ids[inverse]
        bad = np.flatnonzero(~self._same(row_ids, lengths, codes, values))
        if len(bad):  # a hash collision: each such row is stored as a distinct row of its own
            row_ids[bad] = len(self.lengths) + np.arange(len(bad))
            self._append(bad, lengths, codes, values)
        return row_ids

    def _append(self, rows: np.ndarray, lengths: np.ndarray, codes: np.ndarray, values: np.ndarray) -> None:
        starts = (np.cumsum(lengths) - lengths).astype(np.int64)
        take = np.repeat(starts[rows], lengths[rows]) + _positions(lengths[rows])
        self.lengths = np.concatenate([self.lengths, lengths[rows]])
        self.codes = np.concatenate([self.codes, codes[take]])
        self.values = np.concatenate([self.values, values[rows]])

    def _same(
        self, ids: np.ndarray, lengths: np.ndarray, codes: np.ndarray, values: np.ndarray
    ) -> np.ndarray:
        """Whether each row equals the distinct row it was mapped to (bit for bit)."""
        same = (self.lengths[ids] == lengths) & (self.values[ids] == values).all(axis=1)
        offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        check = np.repeat(same, lengths)  # codes are compared where the lengths agree
        theirs = np.repeat(offsets[ids], lengths) + _positions(lengths)
        differs = np.zeros(len(codes), bool)
        differs[check] = self.codes[theirs[check]] != codes[check]
        same[np.repeat(np.arange(len(lengths)), lengths)[differs]] = False
        return same


def _positions(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for each length, concatenated."""
    starts = (np.cumsum(lengths) - lengths).astype(np.int64)
    return np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts, lengths)


def read_user_lists(
    path: Path, recent_col: str, affinity_col: str, scalar_cols: Sequence[str] = ()
) -> UserLists:
    """``recent_col``, ``affinity_col`` and the ``scalar_cols`` of the Parquet file at ``path``, a
    batch of rows at a time, each distinct row stored once."""
    index: dict[str, int] = {}
    n_genres = len(GENRES)
    if n_genres + len(scalar_cols) > MAX_VALUES:
        raise ValueError(f"{n_genres} genres + {len(scalar_cols)} scalar features: at most {MAX_VALUES}")
    distinct = _Distinct(n_genres + len(scalar_cols))
    row_of = []
    for batch in pq.ParquetFile(path).iter_batches(
        batch_size=READ_BATCH_ROWS, columns=[recent_col, affinity_col, *scalar_cols]
    ):
        arr = batch.column(0)
        lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy().astype(np.int64)
        enc = pc.dictionary_encode(pc.cast(arr.flatten(), pa.string()))
        if enc.indices.null_count:
            raise ValueError(f"{path}: {recent_col} holds a null id inside a list")
        to_global = np.fromiter(
            (index.setdefault(x, len(index)) for x in enc.dictionary.to_pylist()),
            np.int32,
            len(enc.dictionary),
        )
        codes = to_global[enc.indices.to_numpy()]
        # One uint64 row of bits per set row: the affinity slots' float32 bits, then the scalars'
        # float64 bits (as ``pd.to_numeric`` reads them: nulls NaN).
        values = np.empty((batch.num_rows, n_genres + len(scalar_cols)), np.uint64)
        values[:, :n_genres] = _affinity_slots(batch.column(1)).view(np.uint32)
        for k in range(len(scalar_cols)):
            col = pc.cast(batch.column(2 + k), pa.float64()).to_numpy(zero_copy_only=False)
            values[:, n_genres + k] = np.asarray(col, np.float64).view(np.uint64)
        row_of.append(distinct.add(lengths, codes, values).astype(np.int32))
    offsets = np.concatenate([[0], np.cumsum(distinct.lengths)]).astype(np.int64)
    recent = RecentItems(_ids(index), offsets, distinct.codes.astype(np.int32))
    affinity = distinct.values[:, :n_genres].astype(np.uint32).view(np.float32)
    scalars = {c: distinct.values[:, n_genres + k].view(np.float64).copy() for k, c in enumerate(scalar_cols)}
    rows = np.concatenate(row_of) if row_of else np.zeros(0, np.int32)
    return UserLists(recent, affinity, scalars, rows)


def _affinity_slots(arr: pa.Array) -> np.ndarray:
    """``genre_affinity_slots`` of each value: the fixed-length, all-finite rows as one array
    operation, the rest (null, wrong length, NaN) one at a time through the contract's function."""
    n, g = len(arr), len(GENRES)
    out = np.zeros((n, g), np.float32)
    lengths = pc.fill_null(pc.list_value_length(arr), -1).to_numpy()
    full = np.flatnonzero(lengths == g)
    if len(full):
        values = pc.list_flatten(arr.take(pa.array(full))).to_numpy(zero_copy_only=False)
        out[full] = np.asarray(values, np.float32).reshape(len(full), g)
    bad = ~np.isfinite(out).all(axis=1)
    for r in np.flatnonzero(bad):
        out[r] = genre_affinity_slots(arr[int(r)].as_py())
    return out


def raw_rows(path: Path, rows: Sequence[int] | np.ndarray, columns: list[str]) -> pa.Table:
    """The Parquet file's ``columns`` at these row positions (in that order), read a batch at a time."""
    rows = np.asarray(rows, np.int64)
    order = np.argsort(rows, kind="stable")
    wanted = rows[order]
    parts, start = [], 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH_ROWS, columns=columns):
        lo, hi = np.searchsorted(wanted, [start, start + batch.num_rows])
        if hi > lo:
            parts.append(batch.take(pa.array(wanted[lo:hi] - start)))
        start += batch.num_rows
    if not parts:
        return pq.read_schema(path).empty_table().select(columns)
    table = pa.Table.from_batches(parts)
    back = np.empty(len(order), np.int64)
    back[order] = np.arange(len(order))
    return table.take(pa.array(back))


def _ids(index: dict[str, int]) -> np.ndarray:
    ids = np.empty(len(index), dtype=object)
    ids[list(index.values())] = list(index.keys())
    return ids
