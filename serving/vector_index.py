"""Inner-product top-k over item embeddings: exact numpy below a size threshold, HNSW above."""

from __future__ import annotations

from typing import Any

import numpy as np


class VectorIndex:
    def __init__(self, vectors: np.ndarray, hnsw_threshold: int) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.n, self.dim = self.vectors.shape
        self.hnsw: Any = None
        if self.n > hnsw_threshold:
            import hnswlib  # only needed for big catalogues

            index = hnswlib.Index(space="ip", dim=self.dim)
            index.init_index(max_elements=self.n, ef_construction=200, M=16)
            index.add_items(self.vectors, np.arange(self.n))
            index.set_ef(200)
            self.hnsw = index

    @property
    def kind(self) -> str:
        return "hnsw" if self.hnsw is not None else "exact"

    def search_arrays(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows (int64) and inner products (float64) of the k nearest rows, best first."""
        k = min(k, self.n)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if self.hnsw is not None:
            labels, dists = self.hnsw.knn_query(q, k=k)
            return labels[0].astype(np.int64), 1.0 - dists[0].astype(np.float64)
        scores = self.vectors @ q[0]
        top = np.argpartition(-scores, k - 1)[:k] if k < self.n else np.arange(self.n)
        top = top[np.lexsort((top, -scores[top]))]  # score desc, row asc for ties
        return top.astype(np.int64), scores[top].astype(np.float64)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Rows and inner products of the k nearest rows, best first."""
        rows, scores = self.search_arrays(query, k)
        return list(zip(rows.tolist(), scores.tolist(), strict=True))
