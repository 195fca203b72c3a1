"""Nearest vectors from Redis's query engine (``LAMBDAREC_VECTOR_BACKEND=redis``).

Every serving replica queries the one HNSW index per bundle version that publishing wrote
(``lambdarec_contracts.vector_index``), instead of holding the catalogue's vectors and an index in
each process. Any failure (Redis down, a server without the query engine, no index for the
bundle's version) raises ``VectorsUnavailable``: the generator then asks the bundle's in-memory
index and the response is flagged degraded. An index found missing is not asked again for
``retry_s``, so a plain Redis costs no round trip per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import redis

from lambdarec_contracts import vector_index as vi

from .bundle import Bundle
from .store import Store, StoreUnavailable
from .vector_index import MAX_EXCLUDE, VectorsUnavailable


class RedisVectors:
    backend = "redis"

    def __init__(self, store: Store, ef_runtime: int, text_k: int, retry_s: float) -> None:
        self.store = store
        self.ef_runtime = ef_runtime
        self.text_k = text_k
        self.retry_s = retry_s
        self._missing: dict[str, float] = {}  # index name -> monotonic time to ask again
        self._lock = threading.Lock()

    def _run(self, name: str, commands: list[list[Any]]) -> list[Any]:
        """One pipelined round trip of ``commands`` against index ``name``."""
        until = self._missing.get(name)
        if until is not None and time.monotonic() < until:
            raise VectorsUnavailable("index_missing")

        def queue(p: Any) -> None:
            for c in commands:
                p.execute_command(*c)

        try:
            return self.store.pipeline(queue)
        except StoreUnavailable as e:
            if isinstance(e.__cause__, redis.ResponseError):  # no module, or no index of this version
                with self._lock:
                    self._missing[name] = time.monotonic() + self.retry_s
                raise VectorsUnavailable("index_missing") from e
            raise VectorsUnavailable("redis_unavailable") from e

    def search(
        self, version: str, kind: str, query: np.ndarray, k: int, exclude: Sequence[int] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows and similarities of the ``k`` nearest vectors of ``kind``, ``exclude`` filtered in-query."""
        args = vi.knn_args(version, kind, query, k, max(self.ef_runtime, k), exclude)
        return vi.parse_knn(self._run(vi.index_name(version, kind), [args])[0])

    def nearest_items(
        self, bundle: Bundle, query: np.ndarray, k: int, exclude: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = exclude[(exclude > 0) & (exclude < len(bundle.item_vocab))][:MAX_EXCLUDE]
        return self.search(bundle.version, vi.ITEM, query, k, rows.tolist())

    def text_neighbours(
        self, bundle: Bundle, anchors: Sequence[int]
    ) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """Each anchor's text vector (one pipelined round trip of HGETs), then its KNN (one more)."""
        name = vi.index_name(bundle.version, vi.TEXT)
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float64))
        rows = [a for a in anchors if 0 < a < len(bundle.item_vocab)]
        # The probe fails when the index is missing (an absent vector alone would look like "no text").
        probe = ["FT.SEARCH", name, f"@{vi.ROW_FIELD}:{{0}}", "LIMIT", 0, 0, "DIALECT", 2]
        hget = [["HGET", vi.doc_key(bundle.version, vi.TEXT, a), vi.VECTOR_FIELD] for a in rows]
        blobs = self._run(name, [probe, *hget])[1:]
        query = {a: np.frombuffer(b, np.float32) for a, b in zip(rows, blobs, strict=True) if b}
        found = {}
        if query:
            ef = max(self.ef_runtime, self.text_k)
            cmds = [vi.knn_args(bundle.version, vi.TEXT, q, self.text_k, ef, [a]) for a, q in query.items()]
            found = {a: vi.parse_knn(r) for a, r in zip(query, self._run(name, cmds), strict=True)}
        return [found.get(a, empty) for a in anchors]
