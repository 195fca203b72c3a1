"""Loading a model bundle fully into memory, as arrays aligned with one item index.

Every item the bundle mentions (its vocabulary first, so positions 0..V-1 are the embedding rows,
then catalogue items the model never saw, then ids only neighbour/popular lists name) gets one
position ("item_idx"); the request pipeline works on arrays of these positions. Pure: numpy,
onnxruntime and the contracts only (the training env imports it to replay the pipeline).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from lambdarec_contracts import bundle as contract
from lambdarec_contracts.bundle import BundleManifest

from .bundle_cf import Collaborative, Neighbours, load_collaborative, neighbour_csr
from .vector_index import VectorIndex

log = logging.getLogger(__name__)

QUERY_TOWER_INPUTS = ("user_idx", "history_idx", "history_mask", "user_features")
RANKER_INPUTS = ("user_features", "item_features", "query_embedding", "item_embedding")  # legacy ranker
SERVED_RANKER_INPUTS = ("features",)  # lambdarec_contracts.ranker_features


class BundleError(RuntimeError):
    """The bundle directory is missing, incomplete or inconsistent."""


@dataclass(frozen=True, eq=False)
class Bundle:
    """Everything serving needs from one published bundle, loaded into memory."""

    path: Path
    manifest: BundleManifest
    query_tower: ort.InferenceSession
    ranker: ort.InferenceSession
    ranker_outputs: list[str]
    query_outputs: list[str]  # the query tower's output names (first: the embedding)
    item_embeddings: np.ndarray  # [V, dim], row = vocabulary position
    user_index: dict[str, int]
    item_vocab: list[str]
    item_index: dict[str, int]  # vocabulary position (embedding row) of trained items
    items: dict[str, dict[str, Any]]  # items.json: the catalogue snapshot
    neighbours_collab: dict[str, list[tuple[str, float]]]
    neighbours_text: dict[str, list[tuple[str, float]]]
    index: VectorIndex
    # --- item positions ("item_idx") and arrays aligned with them ---
    item_ids: list[str]  # position -> item id; [:V] is the vocabulary (0 = OOV)
    position: dict[str, int]  # item id -> position (the OOV token has none)
    embedding_rows: np.ndarray  # int64 [U]: embedding row of each position (0 = OOV)
    available_mask: np.ndarray  # bool [U]: in the catalogue snapshot (only these are served)
    id_order: np.ndarray  # int64 [U]: rank of the item id in string order (deterministic ties)
    genres_of: list[tuple[str, ...]]  # position -> the item's genres (catalogue)
    genre_names: list[str]
    genre_matrix: np.ndarray  # bool [U, len(genre_names)]
    genre_bits: list[int]  # position -> its genres as bits (bit j: genre_names[j]; list diversity)
    titles: list[str | None]  # position -> "Title (year)"
    popular_overall: np.ndarray  # int64 positions, most popular first
    popular_by_genre: dict[str, np.ndarray]
    liked_neighbours: Neighbours  # collaborative then text neighbours ("because you liked")
    # Item-to-item arrays + popularity and a ranker over served candidates (None: a legacy bundle
    # whose ranker takes user/item feature vectors and both tower embeddings).
    collaborative: Collaborative | None = None
    text_vectors: bool = False  # the bundle ships text embeddings (publish indexes them in Redis)

    @property
    def served_ranker(self) -> bool:
        return self.collaborative is not None

    def score_features(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Heads of the served-candidate ranker for a [N, F] input matrix (one ONNX call)."""
        if len(features) == 0:
            return {h: np.zeros(0, np.float32) for h in self.ranker_outputs}
        outs = _run(self.ranker, self.ranker_outputs, {"features": features.astype(np.float32, copy=False)})
        return {
            h: np.asarray(o, np.float32).reshape(-1) for h, o in zip(self.ranker_outputs, outs, strict=True)
        }

    @property
    def version(self) -> str:
        return self.manifest.bundle_version

    def available(self, item_id: str) -> bool:
        """In the catalogue snapshot of this bundle (unknown items are never served)."""
        return item_id in self.items

    def title(self, item_id: str) -> str | None:
        p = self.position.get(item_id)
        return self.titles[p] if p is not None else None

    def positions(self, item_ids: Iterable[str]) -> np.ndarray:
        """Positions of the known ids among ``item_ids`` (unknown ids are skipped)."""
        pos = self.position
        return np.fromiter((pos[i] for i in item_ids if i in pos), dtype=np.int64)

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
        return np.asarray(_run(self.query_tower, self.query_outputs, feeds)[0][0], dtype=np.float32)

    def score(
        self,
        user_features: np.ndarray,
        item_features: np.ndarray,
        query_embedding: np.ndarray,
        item_idx: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Ranker heads for N candidate positions: {head name: float32 [N]} (one ONNX call)."""
        n = len(item_idx)
        if n == 0:
            return {h: np.zeros(0, np.float32) for h in self.ranker_outputs}
        feeds = {  # float32 already (the features stage): no copies beyond the repeats
            "user_features": np.repeat(np.asarray(user_features, np.float32).reshape(1, -1), n, axis=0),
            "item_features": item_features.astype(np.float32, copy=False),
            "query_embedding": np.repeat(np.asarray(query_embedding, np.float32).reshape(1, -1), n, axis=0),
            "item_embedding": self.item_embeddings[self.embedding_rows[item_idx]],
        }
        outs = _run(self.ranker, self.ranker_outputs, feeds)
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


def _run(sess: ort.InferenceSession, outputs: list[str], feeds: dict[str, Any]) -> list[Any]:
    """``sess.run`` without the Python wrapper's per-call checks (graph capture, input names, OrtValue
    ownership: ~20 us of a cache-cold request per call). The inputs were checked at load, the feeds
    are complete numpy arrays, and the C++ session still rejects missing or mistyped ones."""
    inner = getattr(sess, "_sess", None)  # onnxruntime's binding; a version without it: the wrapper
    return sess.run(outputs, feeds) if inner is None else inner.run(outputs, feeds, None)


def _session(path: Path, expected: tuple[str, ...]) -> ort.InferenceSession:
    if not path.exists():
        raise BundleError(f"bundle file missing: {path.name}")
    opts = ort.SessionOptions()
    # One thread per inference: requests (and worker processes) already use the cores.
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


def _title(meta: dict[str, Any] | None) -> str | None:
    if not meta or not meta.get("title"):
        return None
    year = meta.get("year")
    return f"{meta['title']} ({year})" if year else str(meta["title"])


def load_bundle(
    path: Path, hnsw_threshold: int = 20000, vectors_in_redis: bool = False, ef_runtime: int = 200
) -> Bundle:
    """Load and verify a bundle directory completely (raises BundleError).

    ``vectors_in_redis`` (``LAMBDAREC_VECTOR_BACKEND=redis``): retrieval asks Redis, so the item
    embeddings are memory-mapped (only the rows the ranker's features read become resident) and
    no in-process HNSW is built; the fallback index searches them exactly.
    """
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
        emb = np.load(path / contract.ITEM_EMBEDDINGS_FILE, mmap_mode="r" if vectors_in_redis else None)
        emb = emb if emb.dtype == np.float32 else emb.astype(np.float32)
    except (FileNotFoundError, ValueError) as e:
        raise BundleError(f"cannot read {contract.ITEM_EMBEDDINGS_FILE}: {e}") from e
    if emb.ndim != 2 or emb.shape[0] != len(item_vocab) or emb.shape[1] != manifest.retrieval_dim:
        raise BundleError(
            f"item_embeddings shape {emb.shape} does not match item_vocab ({len(item_vocab)}) "
            f"x retrieval_dim ({manifest.retrieval_dim})"
        )
    items = {str(k): v for k, v in _read_json(path / contract.ITEMS_FILE).items()}
    popular = _read_json(path / contract.POPULAR_FILE)
    served = bool(manifest.ranker_feature_names)
    ranker = _session(path / contract.RANKER_FILE, SERVED_RANKER_INPUTS if served else RANKER_INPUTS)
    ranker_outputs = [o.name for o in ranker.get_outputs()]
    unknown_heads = set(manifest.value_model_weights) - set(ranker_outputs)
    if unknown_heads:
        raise BundleError(f"value_model_weights name heads the ranker lacks: {sorted(unknown_heads)}")
    collab = _neighbours(_read_json(path / contract.NEIGHBOURS_COLLAB_FILE))
    text = _neighbours(_read_json(path / contract.NEIGHBOURS_TEXT_FILE))
    pop_overall = [str(i) for i in popular.get("overall", [])]
    pop_by_genre = {g: [str(i) for i in v] for g, v in popular.get("by_genre", {}).items()}

    # Item positions: vocabulary, then catalogue items outside it, then ids only lists mention.
    item_ids = list(item_vocab)
    position = {it: i for i, it in enumerate(item_vocab) if i > 0}
    mentioned = [*items, *pop_overall, *(i for v in pop_by_genre.values() for i in v)]
    mentioned += [x for t in (collab, text) for k, v in t.items() for x in (k, *(nb for nb, _ in v))]
    for it in mentioned:
        if it not in position:
            position[it] = len(item_ids)
            item_ids.append(it)
    n = len(item_ids)
    rows = np.zeros(n, np.int64)
    rows[1 : len(item_vocab)] = np.arange(1, len(item_vocab))
    genres_of = [tuple(items[i].get("genres") or ()) if i in items else () for i in item_ids]
    genre_names = sorted({g for gs in genres_of for g in gs})
    gcol = {g: j for j, g in enumerate(genre_names)}
    genre_matrix = np.zeros((n, len(genre_names)), bool)
    for p, gs in enumerate(genres_of):
        genre_matrix[p, [gcol[g] for g in gs]] = True
    genre_bits = [sum(1 << j for j in {gcol[g] for g in gs}) for gs in genres_of]
    id_order = np.empty(n, np.int64)
    id_order[np.asarray(sorted(range(n), key=item_ids.__getitem__), np.int64)] = np.arange(n)
    available = np.zeros(n, bool)
    available[[position[i] for i in items]] = True
    try:
        collaborative = load_collaborative(path, n, len(item_vocab)) if served else None
    except (OSError, ValueError) as e:
        raise BundleError(f"cannot read the item-to-item arrays: {e}") from e
    if served and collaborative is None:
        raise BundleError("the manifest names ranker features but item_cf/item_knn/popularity are missing")
    query_tower = _session(path / contract.QUERY_TOWER_FILE, QUERY_TOWER_INPUTS)
    return Bundle(
        path=path,
        manifest=manifest,
        query_tower=query_tower,
        query_outputs=[o.name for o in query_tower.get_outputs()],
        ranker=ranker,
        ranker_outputs=ranker_outputs,
        item_embeddings=emb,
        user_index={u: i for i, u in enumerate(user_vocab) if i > 0},
        item_vocab=item_vocab,
        item_index={it: i for i, it in enumerate(item_vocab) if i > 0},
        items=items,
        neighbours_collab=collab,
        neighbours_text=text,
        index=VectorIndex(emb, None if vectors_in_redis else hnsw_threshold, ef_runtime),
        item_ids=item_ids,
        position=position,
        embedding_rows=rows,
        available_mask=available,
        id_order=id_order,
        genres_of=genres_of,
        genre_names=genre_names,
        genre_matrix=genre_matrix,
        genre_bits=genre_bits,
        titles=[_title(items.get(i)) for i in item_ids],
        popular_overall=np.asarray([position[i] for i in pop_overall], np.int64),
        popular_by_genre={g: np.asarray([position[i] for i in v], np.int64) for g, v in pop_by_genre.items()},
        liked_neighbours=neighbour_csr(n, position, (collab, text)),
        collaborative=collaborative,
        text_vectors=(path / contract.ITEM_TEXT_EMBEDDINGS_FILE).exists(),
    )
