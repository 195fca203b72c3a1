"""Item-to-item collaborative filtering over the full history: EASE and item-kNN. numpy only.

Both start from the item-item Gram matrix G = XᵀX of the binary user x item matrix X (a
sparse product, so memory is O(n_items²) + O(interactions), never O(n_users x n_items)):

- item-kNN: cosine similarity G_ij / sqrt(G_ii G_jj), diagonal zeroed (computed in G's buffer
  and turned back into G afterwards, so the two need one n_items² float64 matrix between them);
- EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): P = (G + λI)⁻¹,
  B = -P / diag(P), diagonal zeroed; a user's score for item j is Σ_{i in history} B_ij.

The served generator reads a pruned copy (each row's top-k weights as CSR arrays) from the
bundle; the baselines in the training report use the dense matrices.
"""

from __future__ import annotations

import numpy as np

from lambdarec_contracts.item_cf import SparseNeighbours

DENSE_MAX_ITEMS = 20_000  # items in G and its inverse (n_items² float64), besides the padding row 0
ROW_BLOCK = 1024  # rows per block of the n_items² passes: their temporaries stay O(block x n_items)


def gram(user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int) -> np.ndarray:
    """XᵀX of the binary (deduplicated) user x item matrix, float64 [n_items, n_items].

    A sparse product, a block of G's columns at a time: the work is Σ_users degree², not
    n_users x n_items² as a dense product's (7x faster on the 10m preset), and each block's sparse
    result stays O(n_items x block) before it lands in G.
    """
    from scipy import sparse

    if n_items > DENSE_MAX_ITEMS + 1:  # the CF index is 1-based: row 0 is padding
        raise ValueError(
            f"a dense Gram matrix of side {n_items} holds more than {DENSE_MAX_ITEMS} items (+ the padding row)"
        )
    # One int64 key per (user, item): duplicates count once.
    keys = np.unique(np.asarray(user_idx, np.int64) * n_items + np.asarray(item_idx, np.int64))
    ones = np.ones(len(keys), np.float32)  # counts <= n_users are exact in float32
    x = sparse.csr_matrix((ones, (keys // n_items, keys % n_items)), shape=(n_users, n_items))
    del keys, ones
    xt, xc = x.T.tocsr(), x.tocsc()
    del x
    g = np.zeros((n_items, n_items), dtype=np.float64)
    for lo in range(0, n_items, ROW_BLOCK):
        g[:, lo : lo + ROW_BLOCK] = (xt @ xc[:, lo : lo + ROW_BLOCK]).toarray()
    return g


def ease(g: np.ndarray, lam: float, overwrite_g: bool = False) -> np.ndarray:
    """EASE weights B (float32, zero diagonal) from the Gram matrix.

    P = (G + λI)⁻¹ by LAPACK's Cholesky factorisation and inverse (potrf, potri), both in place:
    besides ``g``, one n_items² float64 work matrix and the float32 result. With ``overwrite_g``
    ``g`` is the work matrix and B is returned in its buffer (a float32 view of its first half):
    nothing beyond ``g`` itself (~0.9 GB at 10,700 items, where ``np.linalg.inv`` held four
    n_items² float64 matrices at once, ~3.7 GB).
    """
    from scipy.linalg import lapack
    from threadpoolctl import threadpool_limits

    a = g if overwrite_g else g.copy()
    a[np.diag_indices_from(a)] += lam
    # ``a`` is C-ordered and symmetric, so its transpose is the same matrix in Fortran order:
    # LAPACK works on that memory without a copy (it writes one triangle).
    f = a.T
    # One thread: OpenBLAS's threaded dpotrf (0.3.30 in scipy, 0.3.31 in numpy) dies with SIGSEGV
    # from about 16,000 items on 2 cores (the 25m preset's 20,001 did; one thread factorises it
    # in ~50 s). Its potri is fine threaded.
    with threadpool_limits(limits=1, user_api="blas"):
        c, info = lapack.dpotrf(f, lower=0, clean=0, overwrite_a=1)
    if info != 0 or not np.shares_memory(c, a):
        raise ValueError(f"EASE: G + λI is not positive definite or was copied (potrf info {info})")
    p, info = lapack.dpotri(c, lower=0, overwrite_c=1)
    if info != 0 or not np.shares_memory(p, a):
        raise ValueError(f"EASE: inverse failed or was copied (potri info {info})")
    # ``p`` (Fortran) holds the inverse's upper triangle, i.e. the lower triangle of ``a`` (C
    # order). Mirror it to the upper one a block of rows at a time.
    n = len(a)
    for lo in range(0, n, ROW_BLOCK):
        hi = min(lo + ROW_BLOCK, n)
        a[lo:hi, hi:] = a[hi:, lo:hi].T
        block = a[lo:hi, lo:hi]
        block[...] = np.tril(block) + np.tril(block, -1).T
    diag = np.diag(a).copy()
    # With ``overwrite_g``, B is float32 in the first half of the work matrix's own buffer: block
    # [lo, hi) lands on bytes [4n·lo, 4n·hi), which only hold rows already read (each block is
    # computed into a temporary first). No second n_items² allocation at the peak.
    if overwrite_g:
        out = a.reshape(-1).view(np.float32)[: n * n].reshape(n, n)
    else:
        out = np.empty(a.shape, dtype=np.float32)
    for lo in range(0, n, ROW_BLOCK):
        hi = min(lo + ROW_BLOCK, n)
        out[lo:hi] = (a[lo:hi] / -diag[None, :]).astype(np.float32)
    np.fill_diagonal(out, 0.0)
    return out


def cosine_in_place(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item-kNN cosine similarity G_ij / sqrt(G_ii G_jj) in G's own float64 buffer, diagonal zeroed.

    Returns what ``restore_gram`` needs to turn it back into G (no second n_items² matrix: the
    similarity is read, pruned and scored before EASE factorises the same buffer).
    """
    diag = np.diag(g).copy()
    norms = np.sqrt(diag)
    norms[norms == 0] = 1.0
    for lo in range(0, len(g), ROW_BLOCK):
        hi = lo + ROW_BLOCK
        g[lo:hi] /= norms[lo:hi, None]
        g[lo:hi] /= norms[None, :]
    np.fill_diagonal(g, 0.0)
    return norms, diag


def restore_gram(s: np.ndarray, norms: np.ndarray, diag: np.ndarray) -> None:
    """Undo ``cosine_in_place``: G_ij = s_ij n_i n_j, rounded — exact, since G holds co-occurrence
    counts (integers far below 2⁵³) and the round trip is off by a few ulps at most."""
    for lo in range(0, len(s), ROW_BLOCK):
        hi = lo + ROW_BLOCK
        s[lo:hi] *= norms[lo:hi, None]
        s[lo:hi] *= norms[None, :]
        np.rint(s[lo:hi], out=s[lo:hi])
    s[np.diag_indices_from(s)] = diag


def times(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` in float32 for a float32 ``x`` and a float32 or float64 ``w`` (the latter cast a
    block of rows at a time, so no float32 copy of an n_items² matrix is made)."""
    if w.dtype == np.float32:
        return x @ w
    out = np.zeros((len(x), w.shape[1]), dtype=np.float32)
    for lo in range(0, len(w), ROW_BLOCK):
        hi = lo + ROW_BLOCK
        out += x[:, lo:hi] @ w[lo:hi].astype(np.float32)
    return out


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
