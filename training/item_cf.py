"""Item-to-item collaborative filtering over the full history: EASE and item-kNN. numpy only.

Both start from the item-item Gram matrix G = XᵀX of the binary user x item matrix X
(accumulated over user chunks, so memory is O(n_items²), never O(n_users x n_items)):

- item-kNN: cosine similarity G_ij / sqrt(G_ii G_jj), diagonal zeroed;
- EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): P = (G + λI)⁻¹,
  B = -P / diag(P), diagonal zeroed; a user's score for item j is Σ_{i in history} B_ij.

The served generator reads a pruned copy (each row's top-k weights as CSR arrays) from the
bundle; the baselines in the training report use the dense matrices.
"""

from __future__ import annotations

import numpy as np

from lambdarec_contracts.item_cf import SparseNeighbours

DENSE_MAX_ITEMS = 20_000  # G and its inverse are n_items² float32/float64


def gram(
    user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, chunk: int = 4096
) -> np.ndarray:
    """XᵀX of the binary (deduplicated) user x item matrix, float64 [n_items, n_items]."""
    if n_items > DENSE_MAX_ITEMS:
        raise ValueError(f"{n_items} items: a dense Gram matrix needs n_items <= {DENSE_MAX_ITEMS}")
    pairs = np.unique(np.stack([user_idx, item_idx], axis=1).astype(np.int64), axis=0)
    g = np.zeros((n_items, n_items), dtype=np.float64)
    for lo in range(0, n_users, chunk):
        sel = pairs[(pairs[:, 0] >= lo) & (pairs[:, 0] < lo + chunk)]
        if not len(sel):
            continue
        x = np.zeros((chunk, n_items), dtype=np.float32)
        x[sel[:, 0] - lo, sel[:, 1]] = 1.0
        g += (x.T @ x).astype(np.float64)
    return g


ROW_BLOCK = 1024  # rows per block of the n_items² passes: their temporaries stay O(block x n_items)


def ease(g: np.ndarray, lam: float) -> np.ndarray:
    """EASE weights B (float32, zero diagonal) from the Gram matrix.

    One n_items² float64 matrix besides ``g`` and LAPACK's own (no identity matrix, B computed in
    place): at 10,700 items each is ~0.9 GB.
    """
    a = g.copy()
    a[np.diag_indices_from(a)] += lam
    p = np.linalg.inv(a)
    del a
    p /= -np.diag(p).copy()[None, :]
    np.fill_diagonal(p, 0.0)
    return p.astype(np.float32)


def cosine(g: np.ndarray) -> np.ndarray:
    """Item-kNN cosine similarity (float32, zero diagonal) from the Gram matrix, a block of rows at a time."""
    norms = np.sqrt(np.diag(g)).copy()
    norms[norms == 0] = 1.0
    s = np.empty(g.shape, dtype=np.float32)
    for lo in range(0, len(g), ROW_BLOCK):
        hi = lo + ROW_BLOCK
        s[lo:hi] = g[lo:hi] / norms[lo:hi, None] / norms[None, :]
    np.fill_diagonal(s, 0.0)
    return s


def prune(w: np.ndarray, k: int, kind: str) -> SparseNeighbours:
    """Keep each row's k largest positive weights (row 0 and column 0 are never kept).

    A block of rows at a time: the partition's index array is [block, n_items], not n_items².
    """
    n = len(w)
    k = max(1, min(k, n - 1))
    tops, values, kept = [], [], []
    for lo in range(0, n, ROW_BLOCK):
        block = np.array(w[lo : lo + ROW_BLOCK], dtype=np.float32, copy=True)
        block[:, 0] = 0.0
        if lo == 0:
            block[0, :] = 0.0
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(block, top, axis=1)
        keep = vals > 0
        order = np.argsort(-np.where(keep, vals, -np.inf), axis=1, kind="stable")
        top, vals, keep = (np.take_along_axis(a, order, axis=1) for a in (top, vals, keep))
        tops.append(top[keep].astype(np.int32))
        values.append(vals[keep].astype(np.float32))
        kept.append(keep.sum(axis=1))
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(kept))]).astype(np.int64)
    return SparseNeighbours(indptr, np.concatenate(tops), np.concatenate(values), kind)


def widen(sub: SparseNeighbours, to_full: np.ndarray, n_items: int) -> SparseNeighbours:
    """Re-index a matrix fit over a subset of items (``to_full[local] = full index``) to the full vocabulary."""
    counts = np.zeros(n_items, dtype=np.int64)
    counts[to_full[1:]] = np.diff(sub.indptr)[1:]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    order = np.argsort(to_full[1:], kind="stable") + 1  # local rows in full-index order
    parts_i = [sub.row(int(r))[0] for r in order]
    parts_w = [sub.row(int(r))[1] for r in order]
    indices = to_full[np.concatenate(parts_i)].astype(np.int32) if parts_i else np.zeros(0, np.int32)
    weights = np.concatenate(parts_w).astype(np.float32) if parts_w else np.zeros(0, np.float32)
    return SparseNeighbours(indptr, indices, weights, sub.kind)
