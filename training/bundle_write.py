"""Step 5: writing the bundle directory — ONNX models with parity checks, generator artifacts, manifest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from lambdarec_contracts import CONTRACTS_VERSION
from lambdarec_contracts.bundle import (
    ITEM_CF_FILE,
    ITEM_EMBEDDINGS_FILE,
    ITEM_KNN_FILE,
    ITEM_TEXT_EMBEDDINGS_FILE,
    ITEM_VOCAB_FILE,
    ITEMS_FILE,
    MANIFEST_FILE,
    NEIGHBOURS_COLLAB_FILE,
    NEIGHBOURS_TEXT_FILE,
    POPULAR_FILE,
    POPULARITY_FILE,
    QUERY_TOWER_FILE,
    RANKER_FILE,
    USER_VOCAB_FILE,
    BundleManifest,
    ModelIO,
)
from lambdarec_contracts.feature_vectors import ITEM_VECTOR_NAMES, USER_VECTOR_NAMES
from lambdarec_contracts.features import RANKER_SERVICE, RETRIEVAL_SERVICE
from lambdarec_contracts.ranker_features import N_RANKER_FEATURES, RANKER_FEATURE_NAMES

from . import artifacts, export
from .config import TrainConfig
from .data import Inputs
from .prepare import Prepared
from .ranker_data import CandidateModels
from .ranker_fit import RankerFit
from .retrieval import Retrieval


def write_models(
    work: Path, prep: Prepared, retrieval: Retrieval, ranker: RankerFit, cfg: TrainConfig
) -> tuple[dict[str, ModelIO], dict[str, float]]:
    """Both ONNX models, each checked against TensorFlow on edge-case inputs."""
    n_uf = retrieval.n_user_features
    q_model = export.functional_query_model(retrieval.query_tower, cfg.history_len, n_uf)
    r_model = export.functional_ranker(ranker.ranker, N_RANKER_FEATURES)
    io = {
        "query_tower": export.to_onnx(
            q_model, export.query_tower_signature(cfg.history_len, n_uf), work / QUERY_TOWER_FILE
        ),
        "ranker": export.to_onnx(r_model, export.ranker_signature(N_RANKER_FEATURES), work / RANKER_FILE),
    }
    rng = np.random.default_rng(cfg.seed)
    q_feeds = export.query_parity_feeds(
        prep.user_vocab.n_trained,
        prep.item_vocab.n_trained,
        cfg.history_len,
        rng.normal(size=(16, n_uf)).astype(np.float32),
    )
    r_feeds = {"features": np.abs(rng.normal(size=(64, N_RANKER_FEATURES))).astype(np.float32)}
    r_feeds["features"][:4] = 0.0  # a candidate no generator scored
    parity = {
        "query_tower": export.parity(q_model, work / QUERY_TOWER_FILE, q_feeds),
        "ranker": export.parity(r_model, work / RANKER_FILE, r_feeds),
    }
    return io, parity


def write_generators(
    work: Path, models: CandidateModels, interactions: pd.DataFrame, inputs: Inputs, end: pd.Timestamp
) -> None:
    """What the item_cf generator, the ranker's popularity inputs and the popular generator read."""
    models.item_cf.save(work / ITEM_CF_FILE)
    models.item_knn.save(work / ITEM_KNN_FILE)
    np.save(work / POPULARITY_FILE, models.popularity.astype(np.float64))
    artifacts.write_json(work / POPULAR_FILE, artifacts.popular_lists(interactions, inputs.dim_items, end))


def write_static(work: Path, prep: Prepared, retrieval: Retrieval, inputs: Inputs, cfg: TrainConfig) -> None:
    """Vocabularies, catalogue snapshot, item embeddings and the 'because you liked' neighbour lists."""
    np.save(work / ITEM_EMBEDDINGS_FILE, retrieval.item_emb)
    if prep.content.text.shape[1]:  # for the Redis vector backend (indexed when published)
        np.save(work / ITEM_TEXT_EMBEDDINGS_FILE, prep.content.text.astype(np.float32))
    artifacts.write_json(work / USER_VOCAB_FILE, prep.user_vocab.ids)
    artifacts.write_json(work / ITEM_VOCAB_FILE, prep.item_vocab.ids)
    artifacts.write_json(work / ITEMS_FILE, artifacts.items_snapshot(inputs.dim_items))
    ids = prep.item_vocab.ids
    artifacts.write_json(
        work / NEIGHBOURS_COLLAB_FILE, artifacts.cosine_neighbours(retrieval.item_emb, ids, cfg.neighbours)
    )
    artifacts.write_json(
        work / NEIGHBOURS_TEXT_FILE, artifacts.cosine_neighbours(prep.content.text, ids, cfg.neighbours)
    )


def write_manifest(
    work: Path,
    version: str,
    prep: Prepared,
    inputs: Inputs,
    cfg: TrainConfig,
    io: dict[str, ModelIO],
    value_weights: dict[str, float],
    metrics: dict[str, float],
    baselines: dict[str, dict[str, float]],
) -> BundleManifest:
    """The manifest goes last: it lists the checksum of every other file."""
    inter = prep.interactions
    manifest = BundleManifest(
        bundle_version=version,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        contracts_version=CONTRACTS_VERSION,
        training_data_start=f"{inter['event_ts'].min():%Y-%m-%d}",
        training_data_end=f"{inter['event_ts'].max() + pd.Timedelta(days=1):%Y-%m-%d}",
        feature_services={"retrieval": RETRIEVAL_SERVICE, "ranker": RANKER_SERVICE},
        embedding_model=inputs.embedding_model,
        embedding_dim=inputs.embedding_dim,
        retrieval_dim=cfg.dim,
        history_len=cfg.history_len,
        user_feature_names=list(USER_VECTOR_NAMES),
        item_feature_names=list(ITEM_VECTOR_NAMES),
        ranker_feature_names=list(RANKER_FEATURE_NAMES),
        value_model_weights=value_weights,
        onnx_models=io,
        metrics=metrics,
        baselines=baselines,
        built_from={**inputs.sources, "ds": cfg.ds},
        file_checksums=artifacts.file_checksums(work),
    )
    (work / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2))
    return manifest
