"""Nearest vectors for the generators: the in-process index and the retrieval-backend interface.

``VectorIndex``: inner-product top-k over the bundle's item embeddings, exact numpy below a size
threshold, HNSW above. ``VectorSearch`` is what the two-tower and "because you liked" generators
ask: ``MEMORY`` answers from the bundle (this index, the bundle's text-neighbour lists);
``serving.vector_store.RedisVectors`` from Redis's query engine (``LAMBDAREC_VECTOR_BACKEND``).
Pure numpy: the offline replay (training env, no redis client) imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from .bundle import Bundle

# The two-tower generator over-fetches by at most this many history items (the memory index) or
# filters at most this many inside the Redis query; the seen filter drops the rest either way.
MAX_EXCLUDE = 2000


class VectorIndex:
    def __init__(self, vectors: np.ndarray, hnsw_threshold: int | None, ef_runtime: int = 200) -> None:
        """``hnsw_threshold`` None: always exact (vectors may be memory-mapped, nothing is copied);
        ``ef_runtime``: the HNSW search breadth above the threshold (``LAMBDAREC_VECTOR_EF_RUNTIME``,
        the same knob as the Redis backend's EF_RUNTIME)."""
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # no copy of a float32 memmap
        self.n, self.dim = self.vectors.shape
        self.hnsw: Any = None
        if hnsw_threshold is not None and self.n > hnsw_threshold:
            import hnswlib  # only needed for big catalogues

            index = hnswlib.Index(space="ip", dim=self.dim)
            index.init_index(max_elements=self.n, ef_construction=200, M=16)
            index.add_items(self.vectors, np.arange(self.n))
            index.set_ef(ef_runtime)
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


class VectorsUnavailable(RuntimeError):
    """The backend cannot answer (Redis down, no query engine, no index for the bundle version)."""


class VectorSearch(Protocol):
    backend: str

    def nearest_items(
        self, bundle: Bundle, query: np.ndarray, k: int, exclude: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Item rows and inner products nearest ``query``, best first; at least ``k`` outside ``exclude``
        (item positions) when the catalogue has them, unless more than MAX_EXCLUDE are excluded."""
        ...

    def text_neighbours(
        self, bundle: Bundle, anchors: Sequence[int]
    ) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Per anchor position: (positions, cosine) of its text neighbours; None = the bundle's lists."""
        ...


class MemoryVectors:
    """The bundle's own arrays: what every process holds in memory."""

    backend = "memory"

    def nearest_items(
        self, bundle: Bundle, query: np.ndarray, k: int, exclude: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # Over-fetch by the excluded items (and the OOV row): the caller drops them.
        return bundle.index.search_arrays(query, k + 1 + min(len(exclude), MAX_EXCLUDE))

    def text_neighbours(
        self, bundle: Bundle, anchors: Sequence[int]
    ) -> list[tuple[np.ndarray, np.ndarray]] | None:
        return None


MEMORY = MemoryVectors()
