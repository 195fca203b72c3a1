"""Builds small, valid model bundles (hand-made ONNX models) for the serving tests.

Query tower: q = U[user_idx] + sum_h(mask_h * E[history_idx_h]) + user_features @ Wu
Ranker:      dot = sum(q * item_embedding); rating = 3 + dot + user_features @ Wru;
             p_positive = sigmoid(dot + item_features @ Wi)
Served-candidate ranker (``BundleSpec.served=True``): p_interaction = sigmoid(features @ Wf)
             with Wf = 1 on "item_cf_score" and 0.01 on "log_popularity"; rating = 3.
             item_cf.npz / item_knn.npz hold ``BundleSpec.item_cf`` (item_knn: the same weights).
Tests compute their expectations from these formulas with numpy, independently of serving.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lambdarec_contracts import CONTRACTS_VERSION
from lambdarec_contracts import bundle as c
from lambdarec_contracts.feature_vectors import ITEM_VECTOR_NAMES, USER_VECTOR_NAMES
from lambdarec_contracts.item_cf import SparseNeighbours
from lambdarec_contracts.ranker_features import RANKER_FEATURE_NAMES
from testing_support import onnx_wire as w

HISTORY_LEN = 4
FU = len(USER_VECTOR_NAMES)
FI = len(ITEM_VECTOR_NAMES)
BAYES_SLOT = ITEM_VECTOR_NAMES.index("item_stats__bayes_rating_scaled")

# A dozen items over a few genres; ids, titles and years are made up.
DEFAULT_ITEMS: dict[str, dict[str, Any]] = {
    "i1": {"title": "Heat", "genres": ["Action", "Crime"], "year": 1995},
    "i2": {"title": "Ronin", "genres": ["Action", "Thriller"], "year": 1998},
    "i3": {"title": "Speed", "genres": ["Action"], "year": 1994},
    "i4": {"title": "Airplane", "genres": ["Comedy"], "year": 1980},
    "i5": {"title": "Clue", "genres": ["Comedy", "Mystery"], "year": 1985},
    "i6": {"title": "Big", "genres": ["Comedy", "Fantasy"], "year": 1988},
    "i7": {"title": "Alien", "genres": ["Horror", "Sci-Fi"], "year": 1979},
    "i8": {"title": "Solaris", "genres": ["Drama", "Sci-Fi"], "year": 1972},
    "i9": {"title": "Rocky", "genres": ["Drama"], "year": 1976},
    "i10": {"title": "Fargo", "genres": ["Crime", "Drama"], "year": 1996},
    "i11": {"title": "Up", "genres": ["Animation", "Children"], "year": 2009},
    "i12": {"title": "Shrek", "genres": ["Animation", "Comedy"], "year": 2001},
}


@dataclass
class BundleSpec:
    version: str = "20260101T000000Z"
    items: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_ITEMS))
    users: list[str] = field(default_factory=lambda: ["u1", "u2", "u3"])
    dim: int = 4
    seed: int = 7
    item_embeddings: np.ndarray | None = None  # [1 + n_items, dim], row 0 = OOV
    user_embeddings: np.ndarray | None = None  # [1 + n_users, dim]
    value_model_weights: dict[str, float] = field(default_factory=lambda: {"rating": 0.5, "p_positive": 0.5})
    popular_overall: list[str] | None = None
    popular_by_genre: dict[str, list[str]] | None = None
    neighbours_collab: dict[str, list[list[Any]]] = field(
        default_factory=lambda: {"i1": [["i10", 0.9], ["i2", 0.8]], "i4": [["i5", 0.7]]}
    )
    neighbours_text: dict[str, list[list[Any]]] = field(
        default_factory=lambda: {"i1": [["i3", 0.6]], "i7": [["i8", 0.9]]}
    )
    extra_vocab_items: list[str] = field(default_factory=list)  # in the vocab but not the catalogue
    # A bundle with the served-candidate ranker and item-to-item arrays (the current training's).
    served: bool = False
    item_cf: dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "i1": {"i10": 0.9, "i2": 0.5},
            "i2": {"i3": 0.4},
            "i4": {"i5": 0.7, "i6": 0.1},
        }
    )
    popularity: dict[str, float] = field(default_factory=lambda: {"i9": 50.0, "i3": 20.0, "i1": 10.0})
    # [1 + n_items, E] text embeddings (row 0 = OOV, zero rows = no text), written as
    # item_text_embeddings.npy when set (what publishing indexes for the Redis vector backend).
    text_embeddings: np.ndarray | None = None

    def item_vocab(self) -> list[str]:
        return [c.OOV_TOKEN, *self.items, *self.extra_vocab_items]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        n_items = len(self.item_vocab())
        e = self.item_embeddings
        if e is None:
            e = rng.normal(size=(n_items, self.dim)).astype(np.float32)
            e[0] = 0.0
        u = self.user_embeddings
        if u is None:
            u = rng.normal(size=(1 + len(self.users), self.dim)).astype(np.float32)
            u[0] = 0.0
        return e.astype(np.float32), u.astype(np.float32)


def query_tower_onnx(user_emb: np.ndarray, item_emb: np.ndarray, wu: np.ndarray) -> bytes:
    d = item_emb.shape[1]
    nodes = [
        w.node("Gather", ["U", "user_idx"], ["u_emb"]),
        w.node("Gather", ["E", "history_idx"], ["h_emb"]),
        w.node("Unsqueeze", ["history_mask", "axis2"], ["m3"]),
        w.node("Mul", ["h_emb", "m3"], ["hm"]),
        w.node("ReduceSum", ["hm", "axis1"], ["hsum"], keepdims=0),
        w.node("MatMul", ["user_features", "Wu"], ["uf"]),
        w.node("Add", ["u_emb", "hsum"], ["a1"]),
        w.node("Add", ["a1", "uf"], ["query_embedding"]),
    ]
    inits = [
        w.tensor("U", user_emb),
        w.tensor("E", item_emb),
        w.tensor("Wu", wu),
        w.tensor("axis1", np.asarray([1], np.int64)),
        w.tensor("axis2", np.asarray([2], np.int64)),
    ]
    inputs = [
        w.value_info("user_idx", w.INT64, ["N"]),
        w.value_info("history_idx", w.INT64, ["N", HISTORY_LEN]),
        w.value_info("history_mask", w.FLOAT, ["N", HISTORY_LEN]),
        w.value_info("user_features", w.FLOAT, ["N", FU]),
    ]
    outputs = [w.value_info("query_embedding", w.FLOAT, ["N", d])]
    return w.model(nodes, inits, inputs, outputs)


def ranker_onnx(dim: int, wi: np.ndarray, wru: np.ndarray) -> bytes:
    nodes = [
        w.node("Mul", ["query_embedding", "item_embedding"], ["qi"]),
        w.node("ReduceSum", ["qi", "axis1"], ["dot"], keepdims=1),
        w.node("MatMul", ["item_features", "Wi"], ["ifw"]),
        w.node("Add", ["dot", "ifw"], ["logit"]),
        w.node("Sigmoid", ["logit"], ["p_positive"]),
        w.node("MatMul", ["user_features", "Wru"], ["ufr"]),
        w.node("Add", ["dot", "three"], ["r1"]),
        w.node("Add", ["r1", "ufr"], ["rating"]),
    ]
    inits = [
        w.tensor("Wi", wi),
        w.tensor("Wru", wru),
        w.tensor("three", np.asarray([3.0], np.float32)),
        w.tensor("axis1", np.asarray([1], np.int64)),
    ]
    inputs = [
        w.value_info("user_features", w.FLOAT, ["N", FU]),
        w.value_info("item_features", w.FLOAT, ["N", FI]),
        w.value_info("query_embedding", w.FLOAT, ["N", dim]),
        w.value_info("item_embedding", w.FLOAT, ["N", dim]),
    ]
    outputs = [w.value_info("rating", w.FLOAT, ["N", 1]), w.value_info("p_positive", w.FLOAT, ["N", 1])]
    return w.model(nodes, inits, inputs, outputs)


def ranker_weights() -> tuple[np.ndarray, np.ndarray]:
    """Wi: 1.0 on the Bayesian-rating slot; Wru: zeros (user features don't move the rating)."""
    wi = np.zeros((FI, 1), np.float32)
    wi[BAYES_SLOT, 0] = 1.0
    return wi, np.zeros((FU, 1), np.float32)


SERVED_WF = np.zeros((len(RANKER_FEATURE_NAMES), 1), np.float32)
SERVED_WF[RANKER_FEATURE_NAMES.index("item_cf_score"), 0] = 1.0
SERVED_WF[RANKER_FEATURE_NAMES.index("log_popularity"), 0] = 0.01


def served_ranker_onnx() -> bytes:
    nodes = [
        w.node("MatMul", ["features", "Wf"], ["logit"]),
        w.node("Sigmoid", ["logit"], ["p_interaction"]),
        w.node("MatMul", ["features", "Zf"], ["zero"]),
        w.node("Add", ["zero", "three"], ["rating"]),
    ]
    inits = [
        w.tensor("Wf", SERVED_WF),
        w.tensor("Zf", np.zeros_like(SERVED_WF)),
        w.tensor("three", np.asarray([3.0], np.float32)),
    ]
    inputs = [w.value_info("features", w.FLOAT, ["N", len(RANKER_FEATURE_NAMES)])]
    outputs = [w.value_info("p_interaction", w.FLOAT, ["N", 1]), w.value_info("rating", w.FLOAT, ["N", 1])]
    return w.model(nodes, inits, inputs, outputs)


def _write_served_arrays(out: Path, spec: BundleSpec) -> None:
    vocab = spec.item_vocab()
    pos = {x: i for i, x in enumerate(vocab)}
    rows = [
        sorted(((pos[j], wt) for j, wt in spec.item_cf.get(x, {}).items()), key=lambda t: -t[1])
        for x in vocab
    ]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    idx = np.asarray([j for r in rows for j, _ in r], np.int32)
    wts = np.asarray([wt for r in rows for _, wt in r], np.float32)
    for name, kind in ((c.ITEM_CF_FILE, "ease"), (c.ITEM_KNN_FILE, "item_knn")):
        SparseNeighbours(indptr, idx, wts, kind).save(out / name)
    np.save(out / c.POPULARITY_FILE, np.asarray([spec.popularity.get(x, 0.0) for x in vocab], np.float64))


def build_bundle(bundles_dir: Path, spec: BundleSpec | None = None) -> Path:
    """Write ``bundles_dir/<version>/`` with every file the contract lists; returns its path."""
    spec = spec or BundleSpec()
    out = Path(bundles_dir) / spec.version
    out.mkdir(parents=True, exist_ok=True)
    item_emb, user_emb = spec.arrays()
    wi, wru = ranker_weights()
    (out / c.QUERY_TOWER_FILE).write_bytes(
        query_tower_onnx(user_emb, item_emb, np.zeros((FU, spec.dim), np.float32))
    )
    (out / c.RANKER_FILE).write_bytes(served_ranker_onnx() if spec.served else ranker_onnx(spec.dim, wi, wru))
    if spec.served:
        _write_served_arrays(out, spec)
    np.save(out / c.ITEM_EMBEDDINGS_FILE, item_emb)
    if spec.text_embeddings is not None:
        np.save(out / c.ITEM_TEXT_EMBEDDINGS_FILE, spec.text_embeddings.astype(np.float32))
    (out / c.ITEM_VOCAB_FILE).write_text(json.dumps(spec.item_vocab()))
    (out / c.USER_VOCAB_FILE).write_text(json.dumps([c.OOV_TOKEN, *spec.users]))
    (out / c.ITEMS_FILE).write_text(json.dumps(spec.items))
    by_genre: dict[str, list[str]] = {}
    for iid, meta in spec.items.items():
        for g in meta["genres"]:
            by_genre.setdefault(g, []).append(iid)
    popular = {
        "overall": spec.popular_overall if spec.popular_overall is not None else list(spec.items),
        "by_genre": spec.popular_by_genre if spec.popular_by_genre is not None else by_genre,
    }
    (out / c.POPULAR_FILE).write_text(json.dumps(popular))
    (out / c.NEIGHBOURS_COLLAB_FILE).write_text(json.dumps(spec.neighbours_collab))
    (out / c.NEIGHBOURS_TEXT_FILE).write_text(json.dumps(spec.neighbours_text))
    (out / c.REPORT_JSON_FILE).write_text("{}")
    (out / c.REPORT_MD_FILE).write_text("# test bundle\n")

    def io(
        inputs: list[tuple[str, str, list[int | None]]], outputs: list[tuple[str, str, list[int | None]]]
    ) -> dict:
        t = lambda n, d, s: {"name": n, "dtype": d, "shape": s}  # noqa: E731
        return {"inputs": [t(*x) for x in inputs], "outputs": [t(*x) for x in outputs]}

    manifest = c.BundleManifest(
        bundle_version=spec.version,
        created_at="2026-01-01T00:00:00Z",
        contracts_version=CONTRACTS_VERSION,
        training_data_start="2025-01-01",
        training_data_end="2026-01-01",
        feature_services={"retrieval": "retrieval_v1", "ranker": "ranker_v1"},
        embedding_model="test-embedding",
        embedding_dim=8,
        retrieval_dim=spec.dim,
        history_len=HISTORY_LEN,
        user_feature_names=USER_VECTOR_NAMES,
        item_feature_names=ITEM_VECTOR_NAMES,
        value_model_weights={"p_interaction": 1.0, "rating": 0.0}
        if spec.served
        else spec.value_model_weights,
        ranker_feature_names=list(RANKER_FEATURE_NAMES) if spec.served else [],
        onnx_models={
            "query_tower": io(
                [
                    ("user_idx", "int64", [None]),
                    ("history_idx", "int64", [None, HISTORY_LEN]),
                    ("history_mask", "float32", [None, HISTORY_LEN]),
                    ("user_features", "float32", [None, FU]),
                ],
                [("query_embedding", "float32", [None, spec.dim])],
            ),
            "ranker": io(
                [("features", "float32", [None, len(RANKER_FEATURE_NAMES)])],
                [("p_interaction", "float32", [None, 1]), ("rating", "float32", [None, 1])],
            )
            if spec.served
            else io(
                [
                    ("user_features", "float32", [None, FU]),
                    ("item_features", "float32", [None, FI]),
                    ("query_embedding", "float32", [None, spec.dim]),
                    ("item_embedding", "float32", [None, spec.dim]),
                ],
                [("rating", "float32", [None, 1]), ("p_positive", "float32", [None, 1])],
            ),
        },
        # what training.publish verifies before installing a bundle
        file_checksums={
            f.name: hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(out.iterdir())
            if f.is_file() and f.name != c.MANIFEST_FILE
        },
    )
    (out / c.MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2))
    return out


def publish(models_dir: Path, bundle_path: Path) -> None:
    """Flip ``models_dir/current`` to ``bundle_path`` atomically (temporary link + os.replace)."""
    link = Path(models_dir) / "current"
    tmp = Path(models_dir) / f".current.{os.getpid()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(bundle_path)
    os.replace(tmp, link)


def expected_query(spec: BundleSpec, user: str | None, history: list[str]) -> np.ndarray:
    """The query tower's output by the formula above (user features contribute 0: Wu = 0)."""
    item_emb, user_emb = spec.arrays()
    vocab = spec.item_vocab()
    q = user_emb[spec.users.index(user) + 1].copy() if user in spec.users else user_emb[0].copy()
    for h in [h for h in history if h in vocab][:HISTORY_LEN]:
        q += item_emb[vocab.index(h)]
    return q


def expected_scores(
    spec: BundleSpec, q: np.ndarray, items: list[str], bayes: dict[str, float] | None = None
) -> dict[str, float]:
    """Value-model score per item with no item features except optional bayes_rating (stars)."""
    item_emb, _ = spec.arrays()
    vocab = spec.item_vocab()
    out = {}
    for i in items:
        dot = float(np.dot(q.astype(np.float64), item_emb[vocab.index(i)].astype(np.float64)))
        b = (bayes or {}).get(i, 0.0) / 5.0
        rating = 3.0 + dot
        p = 1.0 / (1.0 + np.exp(-(dot + b)))
        wts = spec.value_model_weights
        out[i] = wts.get("rating", 0.0) * rating / 5.0 + wts.get("p_positive", 0.0) * p
    return out


def pinned_experiment(bundles_dir: Path, exp_file: Path, version: str = "20250101T000000Z") -> BundleSpec:
    """An older bundle next to the published one and an experiment file whose variant "old" pins
    it (weight 1) against "current" (weight 1); returns the old bundle's spec."""
    old = BundleSpec(version=version)
    build_bundle(bundles_dir, old)
    exp_file.write_text(
        "experiments:\n  - name: pin\n    variants:\n"
        f"      - {{name: old, weight: 1, bundle: '{old.version}'}}\n"
        "      - {name: current, weight: 1}\n"
    )
    return old
