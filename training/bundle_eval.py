"""Evaluate a model bundle through its exported artifacts (ONNX query tower + item embeddings).

No TensorFlow: this is what the quality gate uses to score the currently published bundle and
the candidate on the same evaluation set, each with its own vocabularies, exactly as serving
would (ids -> indices with the bundle's vocab files, index 0 = OOV).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lambdarec_contracts.bundle import (
    ITEM_EMBEDDINGS_FILE,
    ITEM_VOCAB_FILE,
    MANIFEST_FILE,
    QUERY_TOWER_FILE,
    USER_VOCAB_FILE,
    BundleManifest,
)
from training.data import EvalSet, Vocab, history_arrays, index_lists
from training.evaluation import rank_in_chunks, ranking_metrics

EVAL_SET_FILE = "evaluation_set.parquet"


class BundleError(Exception):
    """A bundle is incomplete, corrupt or incompatible (reported without a stack trace)."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(bundle_dir: Path) -> BundleManifest:
    path = bundle_dir / MANIFEST_FILE
    if not path.exists():
        raise BundleError(f"{bundle_dir} has no {MANIFEST_FILE}")
    try:
        return BundleManifest.model_validate_json(path.read_text())
    except Exception as exc:
        raise BundleError(f"invalid manifest {path}: {exc}") from exc


def verify_bundle(bundle_dir: Path) -> BundleManifest:
    """Check every file listed in the manifest's checksums exists and matches; return the manifest."""
    manifest = read_manifest(bundle_dir)
    if not manifest.file_checksums:
        raise BundleError(f"{bundle_dir}: manifest lists no file checksums")
    for name, digest in manifest.file_checksums.items():
        f = bundle_dir / name
        if not f.is_file():
            raise BundleError(f"{bundle_dir}: missing file {name}")
        actual = sha256_of(f)
        if actual != digest:
            raise BundleError(f"{bundle_dir}: checksum mismatch for {name} ({actual[:12]} != {digest[:12]})")
    return manifest


@dataclass
class LoadedBundle:
    manifest: BundleManifest
    user_vocab: Vocab
    item_vocab: Vocab
    item_embeddings: np.ndarray
    session: object  # onnxruntime.InferenceSession

    @classmethod
    def load(cls, bundle_dir: Path) -> LoadedBundle:
        import onnxruntime as ort

        manifest = read_manifest(bundle_dir)
        try:
            users = json.loads((bundle_dir / USER_VOCAB_FILE).read_text())
            items = json.loads((bundle_dir / ITEM_VOCAB_FILE).read_text())
            emb = np.load(bundle_dir / ITEM_EMBEDDINGS_FILE).astype(np.float32)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 2
            session = ort.InferenceSession(str(bundle_dir / QUERY_TOWER_FILE), opts)
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot load bundle {bundle_dir}: {exc}") from exc
        if emb.shape[0] != len(items):
            raise BundleError(f"{bundle_dir}: {emb.shape[0]} item embeddings for {len(items)} vocab entries")
        return cls(manifest, Vocab(users, len(users) - 1), Vocab(items, len(items) - 1), emb, session)

    def query_embeddings(self, eval_set: EvalSet) -> np.ndarray:
        """Run the ONNX query tower for every evaluation user."""
        m = self.manifest
        hist_idx, hist_mask = history_arrays(eval_set.histories, self.item_vocab, m.history_len)
        feeds = {
            "user_idx": self.user_vocab.lookup(eval_set.user_ids),
            "history_idx": hist_idx,
            "history_mask": hist_mask,
            "user_features": eval_set.features_for(m.user_feature_names),
        }
        out_name = m.onnx_models["query_tower"].outputs[0].name
        parts = []
        for lo in range(0, len(eval_set), 2048):
            chunk = {k: v[lo : lo + 2048] for k, v in feeds.items()}
            parts.append(self.session.run([out_name], chunk)[0])  # type: ignore[attr-defined]
        return np.concatenate(parts).astype(np.float32)


def evaluate_loaded(
    bundle: LoadedBundle,
    eval_set: EvalSet,
    item_user_counts: np.ndarray | None = None,
    n_train_users: int = 1,
    k: int = 100,
) -> tuple[dict[str, float], np.ndarray]:
    """Ranking metrics of the bundle's retrieval on ``eval_set`` (full catalogue, seen items excluded)."""
    q = bundle.query_embeddings(eval_set)
    emb = bundle.item_embeddings
    exclude = index_lists(eval_set.exclude, bundle.item_vocab, unknown=0)
    heldout = index_lists(eval_set.heldout, bundle.item_vocab, unknown=-1)
    top = rank_in_chunks(lambda rows: q[rows] @ emb.T, len(eval_set), exclude, k)
    counts = item_user_counts if item_user_counts is not None else np.ones(len(emb))
    metrics = ranking_metrics(top, heldout, len(emb) - 1, counts, n_train_users)
    return metrics, top


def load_eval_set(bundle_dir: Path) -> EvalSet:
    path = bundle_dir / EVAL_SET_FILE
    if not path.exists():
        raise BundleError(f"{bundle_dir} has no {EVAL_SET_FILE}: cannot re-evaluate on its split")
    manifest = read_manifest(bundle_dir)
    return EvalSet.from_frame(pd.read_parquet(path), list(manifest.user_feature_names))
