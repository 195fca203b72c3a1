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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lambdarec_contracts.feature_vectors import genre_affinity_slots
from lambdarec_contracts.tables import GENRES

READ_BATCH_ROWS = 1 << 18


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
    """The list-valued user features of every training-set row, by row position."""

    recent: RecentItems
    affinity: np.ndarray  # float32 [N, len(GENRES)]: genre_affinity_slots of each row


def read_user_lists(path: Path, recent_col: str, affinity_col: str) -> UserLists:
    """``recent_col`` and ``affinity_col`` of the Parquet file at ``path``, a batch of rows at a time."""
    index: dict[str, int] = {}
    lengths, codes, affinity = [], [], []
    for batch in pq.ParquetFile(path).iter_batches(
        batch_size=READ_BATCH_ROWS, columns=[recent_col, affinity_col]
    ):
        arr = batch.column(0)
        lengths.append(pc.fill_null(pc.list_value_length(arr), 0).to_numpy().astype(np.int64))
        enc = pc.dictionary_encode(pc.cast(arr.flatten(), pa.string()))
        if enc.indices.null_count:
            raise ValueError(f"{path}: {recent_col} holds a null id inside a list")
        to_global = np.fromiter(
            (index.setdefault(x, len(index)) for x in enc.dictionary.to_pylist()),
            np.int32,
            len(enc.dictionary),
        )
        codes.append(to_global[enc.indices.to_numpy()])
        affinity.append(_affinity_slots(batch.column(1)))
    n = np.concatenate([[0], *lengths]) if lengths else np.zeros(1, np.int64)
    flat = np.concatenate(codes) if codes else np.zeros(0, np.int32)
    recent = RecentItems(_ids(index), np.cumsum(n).astype(np.int64), flat.astype(np.int32))
    slots = np.concatenate(affinity) if affinity else np.zeros((0, len(GENRES)), np.float32)
    return UserLists(recent, slots)


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
