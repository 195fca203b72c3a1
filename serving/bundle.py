"""Loading a model bundle fully, and swapping the served bundle atomically.

A ``Bundle`` is immutable once loaded; a request takes one reference at its start and
uses it to the end, so a hot swap never mixes versions within a response.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from lambdarec_contracts import bundle as contract
from lambdarec_contracts.bundle import BundleManifest

log = logging.getLogger(__name__)

QUERY_TOWER_INPUTS = ("user_idx", "history_idx", "history_mask", "user_features")
RANKER_INPUTS = ("user_features", "item_features", "query_embedding", "item_embedding")


class BundleError(RuntimeError):
    """The bundle directory is missing, incomplete or inconsistent."""


class VectorIndex:
    """Inner-product top-k over item embeddings: exact numpy below a size threshold, HNSW above."""

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

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Rows and inner products of the k nearest rows, best first."""
        k = min(k, self.n)
        if k <= 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if self.hnsw is not None:
            labels, dists = self.hnsw.knn_query(q, k=k)
            return [(int(i), float(1.0 - d)) for i, d in zip(labels[0], dists[0], strict=True)]
        scores = self.vectors @ q[0]
        top = np.argpartition(-scores, k - 1)[:k] if k < self.n else np.arange(self.n)
        top = top[np.lexsort((top, -scores[top]))]  # score desc, row asc for ties
        return [(int(i), float(scores[i])) for i in top]


@dataclass
class Bundle:
    """Everything serving needs from one published bundle, loaded into memory."""

    path: Path
    manifest: BundleManifest
    query_tower: ort.InferenceSession
    ranker: ort.InferenceSession
    ranker_outputs: list[str]
    item_embeddings: np.ndarray
    user_index: dict[str, int]
    item_vocab: list[str]
    item_index: dict[str, int]
    items: dict[str, dict[str, Any]]
    popular_overall: list[str]
    popular_by_genre: dict[str, list[str]]
    neighbours_collab: dict[str, list[tuple[str, float]]]
    neighbours_text: dict[str, list[tuple[str, float]]]
    index: VectorIndex
    item_genres: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.manifest.bundle_version

    def available(self, item_id: str) -> bool:
        """In the catalogue snapshot of this bundle (unknown items are never served)."""
        return item_id in self.items

    def title(self, item_id: str) -> str | None:
        meta = self.items.get(item_id)
        if not meta or not meta.get("title"):
            return None
        year = meta.get("year")
        return f"{meta['title']} ({year})" if year else str(meta["title"])

    def query_embedding(self, user_id: str, history: list[str], user_features: np.ndarray) -> np.ndarray:
        """Run the query tower for one user (history: item ids, most recent first)."""
        hl = self.manifest.history_len
        idx = np.zeros((1, hl), dtype=np.int64)
        mask = np.zeros((1, hl), dtype=np.float32)
        for j, item in enumerate([h for h in history if h in self.item_index][:hl]):
            idx[0, j] = self.item_index[item]
            mask[0, j] = 1.0
        feeds = {
            "user_idx": np.asarray([self.user_index.get(user_id, 0)], dtype=np.int64),
            "history_idx": idx,
            "history_mask": mask,
            "user_features": user_features.reshape(1, -1).astype(np.float32),
        }
        return np.asarray(self.query_tower.run(None, feeds)[0][0], dtype=np.float32)

    def score(
        self,
        user_features: np.ndarray,
        item_features: np.ndarray,
        query_embedding: np.ndarray,
        item_ids: list[str],
    ) -> dict[str, np.ndarray]:
        """Ranker heads for N candidates: {head name: float32 [N]}."""
        n = len(item_ids)
        if n == 0:
            return {h: np.zeros(0, np.float32) for h in self.ranker_outputs}
        rows = np.asarray([self.item_index.get(i, 0) for i in item_ids], dtype=np.int64)
        feeds = {
            "user_features": np.repeat(user_features.reshape(1, -1), n, axis=0).astype(np.float32),
            "item_features": item_features.astype(np.float32),
            "query_embedding": np.repeat(query_embedding.reshape(1, -1), n, axis=0).astype(np.float32),
            "item_embedding": self.item_embeddings[rows],
        }
        outs = self.ranker.run(self.ranker_outputs, feeds)
        return {
            h: np.asarray(o, dtype=np.float32).reshape(-1)
            for h, o in zip(self.ranker_outputs, outs, strict=True)
        }


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise BundleError(f"bundle file missing: {path.name}") from e
    except json.JSONDecodeError as e:
        raise BundleError(f"bundle file {path.name} is not valid JSON: {e}") from e


def _session(path: Path, expected: tuple[str, ...]) -> ort.InferenceSession:
    if not path.exists():
        raise BundleError(f"bundle file missing: {path.name}")
    opts = ort.SessionOptions()
    # Requests already run concurrently; one thread per inference keeps 2-core hosts responsive.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's errors share no useful base class
        raise BundleError(f"{path.name} is not a loadable ONNX model: {e}") from e
    names = {i.name for i in sess.get_inputs()}
    missing = [n for n in expected if n not in names]
    if missing:
        raise BundleError(f"{path.name} lacks inputs {missing} (has {sorted(names)})")
    return sess


def _neighbours(raw: dict[str, Any]) -> dict[str, list[tuple[str, float]]]:
    return {str(k): [(str(n), float(s)) for n, s in v] for k, v in raw.items()}


def load_bundle(path: Path, hnsw_threshold: int = 20000) -> Bundle:
    """Load and verify a bundle directory completely (raises BundleError)."""
    path = Path(path).resolve()
    if not path.is_dir():
        raise BundleError(f"no bundle at {path}")
    try:
        manifest = BundleManifest.model_validate(_read_json(path / contract.MANIFEST_FILE))
    except ValueError as e:
        raise BundleError(f"invalid manifest: {e}") from e
    item_vocab = [str(x) for x in _read_json(path / contract.ITEM_VOCAB_FILE)]
    user_vocab = [str(x) for x in _read_json(path / contract.USER_VOCAB_FILE)]
    try:
        emb = np.load(path / contract.ITEM_EMBEDDINGS_FILE).astype(np.float32)
    except (FileNotFoundError, ValueError) as e:
        raise BundleError(f"cannot read {contract.ITEM_EMBEDDINGS_FILE}: {e}") from e
    if emb.ndim != 2 or emb.shape[0] != len(item_vocab) or emb.shape[1] != manifest.retrieval_dim:
        raise BundleError(
            f"item_embeddings shape {emb.shape} does not match item_vocab ({len(item_vocab)}) "
            f"x retrieval_dim ({manifest.retrieval_dim})"
        )
    items = {str(k): v for k, v in _read_json(path / contract.ITEMS_FILE).items()}
    popular = _read_json(path / contract.POPULAR_FILE)
    ranker = _session(path / contract.RANKER_FILE, RANKER_INPUTS)
    ranker_outputs = [o.name for o in ranker.get_outputs()]
    unknown_heads = set(manifest.value_model_weights) - set(ranker_outputs)
    if unknown_heads:
        raise BundleError(f"value_model_weights name heads the ranker lacks: {sorted(unknown_heads)}")
    # Only catalogue items are candidates of the ANN: zero the OOV row's reach by excluding it later.
    return Bundle(
        path=path,
        manifest=manifest,
        query_tower=_session(path / contract.QUERY_TOWER_FILE, QUERY_TOWER_INPUTS),
        ranker=ranker,
        ranker_outputs=ranker_outputs,
        item_embeddings=emb,
        user_index={u: i for i, u in enumerate(user_vocab) if i > 0},
        item_vocab=item_vocab,
        item_index={it: i for i, it in enumerate(item_vocab) if i > 0},
        items=items,
        popular_overall=[str(i) for i in popular.get("overall", [])],
        popular_by_genre={g: [str(i) for i in v] for g, v in popular.get("by_genre", {}).items()},
        neighbours_collab=_neighbours(_read_json(path / contract.NEIGHBOURS_COLLAB_FILE)),
        neighbours_text=_neighbours(_read_json(path / contract.NEIGHBOURS_TEXT_FILE)),
        index=VectorIndex(emb, hnsw_threshold),
        item_genres={k: tuple(v.get("genres") or ()) for k, v in items.items()},
    )


class BundleHolder:
    """Holds the served bundle; polls the ``current`` symlink and swaps one reference atomically."""

    def __init__(
        self,
        link: Path,
        hnsw_threshold: int = 20000,
        on_swap: Callable[[Bundle], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.link = link
        self.hnsw_threshold = hnsw_threshold
        self.on_swap = on_swap
        self.on_error = on_error
        self._bundle: Bundle | None = None
        self._pinned: dict[str, Bundle] = {}
        self._lock = threading.Lock()  # serialises loads, never readers
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> Bundle | None:
        return self._bundle  # one attribute read: atomic under the GIL

    def _target(self) -> Path | None:
        try:
            return Path(os.path.realpath(self.link)) if self.link.exists() else None
        except OSError:
            return None

    def refresh(self, force: bool = False) -> bool:
        """Load the bundle the link points to if it changed (or ``force``); True when swapped."""
        with self._lock:
            target = self._target()
            if target is None:
                self.last_error = f"no bundle published at {self.link}"
                return False
            cur = self._bundle
            if cur is not None and cur.path == target and not force:
                return False
            try:
                new = load_bundle(target, self.hnsw_threshold)
            except Exception as e:
                # Any failure (bad files, numpy, onnxruntime): keep serving the old bundle; say why in logs, readiness and metrics.
                self.last_error = str(e)
                log.error("bundle load failed for %s: %s", target, e)
                if self.on_error is not None:
                    self.on_error(self.last_error)
                return False
            self._bundle = new
            self.last_error = None
        log.info("serving bundle %s from %s", new.version, new.path)
        if self.on_swap is not None:
            self.on_swap(new)
        return True

    def pinned(self, version: str, bundles_dir: Path) -> Bundle | None:
        """A specific bundle version (experiment override), loaded once and kept."""
        b = self._pinned.get(version)
        if b is not None:
            return b
        with self._lock:
            if version not in self._pinned:
                try:
                    self._pinned[version] = load_bundle(bundles_dir / version, self.hnsw_threshold)
                except Exception as e:
                    log.error("pinned bundle %s failed to load: %s", version, e)
                    return None
            return self._pinned[version]

    def start_polling(self, interval_s: float) -> None:
        if interval_s <= 0 or self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.refresh()
                except Exception:  # the poller must never die
                    log.exception("bundle poll failed")

        self._thread = threading.Thread(target=loop, name="bundle-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
