"""The two-tower model's training examples as shards (Arrow IPC files, uncompressed: a shard's
read is a copy, not a decode), streamed to Keras by tf.data.

The base-period rows of the Feast training set become model inputs a chunk at a time (ids ->
vocabulary indices, the point-in-time ``recent_items`` -> padded history without the row's own
item, the user features -> ``user_vector``) and each row goes to a shard drawn at random, so no
whole-set input arrays, tensors or shuffle buffer are ever built. An epoch reads the shards in a
fresh order, permutes each shard's rows and cuts batches from them: every batch is a uniform
sample of all rows (what a full shuffle gives) and the input pipeline holds about one shard.
Batches are numpy slices, so tf.data does per-batch work, never per-example work.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .data import Vocab
from .prepare import ROW
from .user_columns import UserLists

# Rows per shard (at most MAX_SHARDS shards: larger sets get larger shards), rows converted at a
# time, rows per record batch (row group) of a shard file: the memory of writing is a chunk plus a row group per shard.
SHARD_ROWS = 1 << 17
MAX_SHARDS = 64
CHUNK_ROWS = 1 << 16
ROW_GROUP_ROWS = 1 << 13

Batch = dict[str, np.ndarray]


@dataclass
class Shards:
    """Where the examples are and what a batch needs beyond them."""

    paths: list[Path]
    n_rows: int
    n_user_features: int
    history_len: int
    item_prob: np.ndarray  # float32 [len(item_vocab)]: each item's share of the rows (logQ correction)


def _columns(
    part: pd.DataFrame,
    lists: UserLists,
    user_vocab: Vocab,
    item_vocab: Vocab,
    history_len: int,
) -> dict[str, np.ndarray]:
    positions = part[ROW].to_numpy()
    items = part["item_id"].astype(str).tolist()
    hist = lists.recent.history(lists.row_of[positions], item_vocab.index, history_len, drop=items)
    return {
        "user_idx": user_vocab.lookup(part["user_id"]).astype(np.int32),
        "item_idx": item_vocab.lookup(items).astype(np.int32),
        "history_idx": hist.astype(np.int32),
        "user_features": lists.user_matrix(positions),
    }


def _table(cols: dict[str, np.ndarray]) -> pa.Table:
    def fixed(a: np.ndarray) -> pa.Array:
        return pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), a.shape[1])

    return pa.table({k: fixed(v) if v.ndim == 2 else pa.array(v) for k, v in cols.items()})


class _ShardWriter:
    """Rows scattered over ``n`` Arrow IPC files, flushed a record batch at a time per file."""

    def __init__(self, directory: Path, n: int) -> None:
        self.paths = [directory / f"part-{i:05d}.arrow" for i in range(n)]
        self._writers: list[pa.ipc.RecordBatchFileWriter | None] = [None] * n
        self._pending: list[list[dict[str, np.ndarray]]] = [[] for _ in range(n)]
        self._n_pending = [0] * n

    def add(self, shard: int, cols: dict[str, np.ndarray]) -> None:
        self._pending[shard].append(cols)
        self._n_pending[shard] += len(cols["item_idx"])
        if self._n_pending[shard] >= ROW_GROUP_ROWS:
            self._flush(shard)

    def _flush(self, shard: int) -> None:
        parts = self._pending[shard]
        if not parts:
            return
        table = _table({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
        if self._writers[shard] is None:
            self._writers[shard] = pa.ipc.new_file(self.paths[shard], table.schema)
        self._writers[shard].write_table(table)  # type: ignore[union-attr]
        self._pending[shard], self._n_pending[shard] = [], 0

    def close(self) -> list[Path]:
        for i in range(len(self.paths)):
            self._flush(i)
        written = []
        for path, w in zip(self.paths, self._writers, strict=True):
            if w is not None:
                w.close()
                written.append(path)
        return written


def write_shards(
    rows: pd.DataFrame,
    lists: UserLists,
    user_vocab: Vocab,
    item_vocab: Vocab,
    history_len: int,
    directory: Path,
    seed: int,
) -> Shards:
    """Model inputs of the training-set rows at ``rows[ROW]`` (string ids in ``rows``; their user
    features in ``lists``, by the same positions), as shards in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    n = len(rows)
    n_shards = max(1, min(MAX_SHARDS, math.ceil(n / SHARD_ROWS)))
    rng = np.random.default_rng(seed)
    writer = _ShardWriter(directory, n_shards)
    counts = np.zeros(len(item_vocab), np.float64)
    n_features = 0
    for start in range(0, n, CHUNK_ROWS):
        part = rows.iloc[start : start + CHUNK_ROWS]
        cols = _columns(part, lists, user_vocab, item_vocab, history_len)
        n_features = cols["user_features"].shape[1]
        counts += np.bincount(cols["item_idx"], minlength=len(item_vocab))
        shard = rng.integers(n_shards, size=len(part))
        order = np.argsort(shard, kind="stable")
        bounds = np.searchsorted(shard[order], np.arange(n_shards + 1))
        for s in range(n_shards):
            pick = order[bounds[s] : bounds[s + 1]]
            if len(pick):
                writer.add(s, {k: v[pick] for k, v in cols.items()})
    item_prob = (counts / max(counts.sum(), 1.0)).astype(np.float32)
    return Shards(writer.close(), n, n_features, history_len, item_prob)


def _read(path: Path) -> Batch:
    with pa.OSFile(str(path)) as f:
        table = pa.ipc.open_file(f).read_all()
    out: Batch = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if isinstance(col, pa.FixedSizeListArray):
            out[name] = col.flatten().to_numpy().reshape(len(col), col.type.list_size)
        else:
            out[name] = col.to_numpy()
    return out


def _read_ahead(paths: list[Path]) -> Iterator[Batch]:
    """The shards in turn, the next one read in the background (pyarrow releases the GIL) while
    the caller cuts batches from this one: training does not wait for a shard's read."""
    with ThreadPoolExecutor(1) as pool:
        ahead = [pool.submit(_read, p) for p in paths[:1]]
        for k in range(len(paths)):
            part = ahead.pop().result()
            ahead += [pool.submit(_read, p) for p in paths[k + 1 : k + 2]]
            yield part


def history_order(history_idx: np.ndarray) -> np.ndarray:
    """int32 [B * H]: the flattened history's entries in ascending index order (the ``order`` of
    ``towers.pooled_embeddings``), a radix sort in numpy for indices below 2**16 (a fraction of TF's sort)."""
    flat = np.asarray(history_idx).reshape(-1)
    key = flat.astype(np.uint16) if flat.size and flat.min() >= 0 and flat.max() < 1 << 16 else flat
    return np.argsort(key, kind="stable").astype(np.int32)


def _as_inputs(part: Batch, item_prob: np.ndarray, keep: np.ndarray) -> Batch:
    """The model's input dict (the keys and dtypes the towers and the task read; indices stay
    int32, the towers widen them)."""
    hist = part["history_idx"]
    return {
        # Hidden ids (keep False) teach the OOV row a cold-start user: the tower then leans on
        # history + features, which is all serving has for users unseen at training time.
        "user_idx": np.where(keep, part["user_idx"], 0),
        "history_idx": hist,
        "history_mask": (hist > 0).astype(np.float32),
        "history_order": history_order(hist),
        "user_features": part["user_features"],
        "item_idx": part["item_idx"],
        "item_prob": item_prob[part["item_idx"]],
    }


def epoch_batches(
    shards: Shards, batch_size: int, user_id_dropout: float, rng: np.random.Generator
) -> Iterator[Batch]:
    """One pass over every row in batches of ``batch_size`` (the last one may be smaller).

    Each batch is gathered from its shard by a slice of the shard's permutation (one copy per
    row); a shard's last rows are carried into the next shard's first batch."""
    carry: Batch | None = None
    for part in _read_ahead([shards.paths[i] for i in rng.permutation(len(shards.paths))]):
        order = rng.permutation(len(part["item_idx"]))
        start = 0
        if carry is not None:
            start = min(batch_size - len(carry["item_idx"]), len(order))
            head = order[:start]
            carry = {k: np.concatenate([carry[k], v[head]]) for k, v in part.items()}
            if len(carry["item_idx"]) < batch_size:
                continue
            keep = rng.random(batch_size) >= user_id_dropout
            yield _as_inputs(carry, shards.item_prob, keep)
        full = start + (len(order) - start) // batch_size * batch_size
        for s in range(start, full, batch_size):
            keep = rng.random(batch_size) >= user_id_dropout
            rows = order[s : s + batch_size]
            yield _as_inputs({k: v[rows] for k, v in part.items()}, shards.item_prob, keep)
        carry = {k: v[order[full:]] for k, v in part.items()}
    if carry is not None and len(carry["item_idx"]):
        keep = rng.random(len(carry["item_idx"])) >= user_id_dropout
        yield _as_inputs(carry, shards.item_prob, keep)


def batches_per_epoch(shards: Shards, batch_size: int) -> int:
    return math.ceil(shards.n_rows / batch_size)


def dataset(shards: Shards, batch_size: int, user_id_dropout: float, seed: int, epochs: int):  # noqa: ANN201 - tf.data.Dataset
    """``epochs`` passes, each a new shuffle seeded by (seed, epoch), prefetched; with
    ``steps_per_epoch=batches_per_epoch(...)`` Keras reads one iterator, so the order cannot
    depend on when its prefetching starts."""
    import tensorflow as tf

    def one_epoch(epoch: np.int64) -> Iterator[Batch]:
        rng = np.random.default_rng([seed, int(epoch)])
        return epoch_batches(shards, batch_size, user_id_dropout, rng)

    signature = {
        "user_idx": tf.TensorSpec([None], tf.int32),
        "history_idx": tf.TensorSpec([None, shards.history_len], tf.int32),
        "history_mask": tf.TensorSpec([None, shards.history_len], tf.float32),
        "history_order": tf.TensorSpec([None], tf.int32),
        "user_features": tf.TensorSpec([None, shards.n_user_features], tf.float32),
        "item_idx": tf.TensorSpec([None], tf.int32),
        "item_prob": tf.TensorSpec([None], tf.float32),
    }
    return (
        tf.data.Dataset.range(epochs)
        .flat_map(lambda e: tf.data.Dataset.from_generator(one_epoch, args=(e,), output_signature=signature))
        .prefetch(tf.data.AUTOTUNE)
    )
