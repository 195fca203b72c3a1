"""The bundle's item-to-item arrays (EASE / item-kNN), popularity and neighbour lists, by item position.

Bundles from before the served-task ranker have none of these files: ``load_collaborative``
returns None and serving keeps the generators and ranker those bundles were built for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lambdarec_contracts import bundle as contract
from lambdarec_contracts.item_cf import SparseNeighbours


@dataclass(frozen=True)
class Collaborative:
    item_cf: SparseNeighbours  # EASE weights over item positions
    item_knn: SparseNeighbours  # cosine item-kNN over item positions
    popularity: np.ndarray  # float64 [U]: interactions per item in the bundle's training data
    popularity_pct: np.ndarray  # float32 [U]: rank percentile of popularity (1 = most popular)


def _widen(m: SparseNeighbours, n: int) -> SparseNeighbours:
    """Pad the CSR to ``n`` rows (positions beyond the vocabulary have no neighbours)."""
    if m.n_items >= n:
        return m
    indptr = np.concatenate([m.indptr, np.full(n - m.n_items, m.indptr[-1], np.int64)])
    return SparseNeighbours(indptr, m.indices, m.weights, m.kind)


def load_collaborative(path: Path, n_positions: int, n_vocab: int) -> Collaborative | None:
    files = [path / f for f in (contract.ITEM_CF_FILE, contract.ITEM_KNN_FILE, contract.POPULARITY_FILE)]
    if not all(f.exists() for f in files):
        return None
    cf, knn = (SparseNeighbours.load(f) for f in files[:2])
    pop_v = np.load(files[2]).astype(np.float64)
    if cf.n_items != n_vocab or knn.n_items != n_vocab or len(pop_v) != n_vocab:
        raise ValueError(
            f"item_cf/item_knn/popularity cover {cf.n_items}/{knn.n_items}/{len(pop_v)} items, vocabulary {n_vocab}"
        )
    pop = np.zeros(n_positions, np.float64)
    pop[:n_vocab] = pop_v
    pct = np.zeros(n_positions, np.float32)
    order = np.argsort(pop[1:], kind="stable")
    pct[1:][order] = np.arange(1, len(order) + 1, dtype=np.float32) / max(len(order), 1)
    return Collaborative(_widen(cf, n_positions), _widen(knn, n_positions), pop, pct)


@dataclass(frozen=True)
class Neighbours:
    """CSR neighbour lists over item positions: ``idx[ptr[i]:ptr[i+1]]`` with ``score`` alike."""

    ptr: np.ndarray  # int64 [U + 1]
    idx: np.ndarray  # int64 [nnz]
    score: np.ndarray  # float64 [nnz]
    first: np.ndarray  # int64 [U]: how many of row i's entries come from the first table

    def of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.ptr[i], self.ptr[i + 1]
        return self.idx[a:b], self.score[a:b]


def neighbour_csr(
    n: int, position: dict[str, int], tables: Sequence[dict[str, list[tuple[str, float]]]]
) -> Neighbours:
    rows: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    first = np.zeros(n, np.int64)
    for t, table in enumerate(tables):  # collaborative first, then text: "because you liked" reads them so
        for k, lst in table.items():
            if k in position:
                rows[position[k]].extend((position[nb], s) for nb, s in lst)
                if t == 0:
                    first[position[k]] = len(lst)
    ptr = np.zeros(n + 1, np.int64)
    ptr[1:] = np.cumsum([len(r) for r in rows])
    flat = [x for r in rows for x in r]
    idx = np.asarray([i for i, _ in flat], np.int64)
    return Neighbours(ptr, idx, np.asarray([s for _, s in flat], np.float64), first)
