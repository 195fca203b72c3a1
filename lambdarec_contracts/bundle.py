"""The model bundle: one versioned directory that training publishes and serving loads.

Layout of ``bundles/<version>/``::

    manifest.json            BundleManifest (below)
    query_tower.onnx         inputs/outputs named in manifest.onnx_inputs["query_tower"]
    ranker.onnx              inputs/outputs named in manifest.onnx_inputs["ranker"]
    item_embeddings.npy      float32 [n_items, dim], row i is item_vocab[i]
    user_vocab.json          list of user ids; index 0 is the out-of-vocabulary bucket ("[OOV]")
    item_vocab.json          list of item ids; index 0 is the out-of-vocabulary bucket ("[OOV]")
    items.json               catalogue snapshot: {item_id: {"title", "genres", "year"}}
    popular.json             {"overall": [item_id, ...], "by_genre": {genre: [item_id, ...]}}
    neighbours_collab.json   {item_id: [[neighbour_id, score], ...]} from the item embeddings
    neighbours_text.json     {item_id: [[neighbour_id, score], ...]} from the text embeddings
    item_text_embeddings.npy float32 [n_items, text_dim], rows as item_embeddings (zeros: no text);
                             optional: publishing indexes it in Redis (lambdarec_contracts.vector_index)
    item_cf.npz              EASE weights over item_vocab positions, each row pruned (lambdarec_contracts.item_cf)
    item_knn.npz             cosine item-kNN over item_vocab positions, same layout
    popularity.npy           float64 [n_items]: interactions per item in the training data
    report.json, report.md   evaluation report

ONNX signatures (names recorded in the manifest; serving reads them from there):
    query_tower: user_idx int64 [N], history_idx int64 [N, history_len] (0 = padding/OOV),
                 history_mask float32 [N, history_len] (1 = real item), user_features float32 [N, F_u]
                 -> query_embedding float32 [N, retrieval_dim]
    ranker:      features float32 [N, F] (lambdarec_contracts.ranker_features.ranker_matrix, names in
                 manifest.ranker_feature_names)
                 -> one float32 [N, 1] output per head ("p_interaction" in 0..1, "rating" in stars)
    User feature vectors come from lambdarec_contracts.feature_vectors (user_vector).
    Value model: score = sum(value_model_weights[h] * normalised head h), rating heads divided by 5.

Publishing writes ``bundles/<version>/``, verifies it, then atomically replaces the
``current`` symlink (``os.replace`` of a temporary link), so a reader sees either
the old or the new bundle, never a mix. ``version`` is sortable (UTC timestamp based).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MANIFEST_FILE = "manifest.json"
QUERY_TOWER_FILE = "query_tower.onnx"
RANKER_FILE = "ranker.onnx"
ITEM_EMBEDDINGS_FILE = "item_embeddings.npy"
USER_VOCAB_FILE = "user_vocab.json"
ITEM_VOCAB_FILE = "item_vocab.json"
ITEMS_FILE = "items.json"
POPULAR_FILE = "popular.json"
NEIGHBOURS_COLLAB_FILE = "neighbours_collab.json"
NEIGHBOURS_TEXT_FILE = "neighbours_text.json"
ITEM_TEXT_EMBEDDINGS_FILE = "item_text_embeddings.npy"
ITEM_CF_FILE = "item_cf.npz"
ITEM_KNN_FILE = "item_knn.npz"
POPULARITY_FILE = "popularity.npy"
REPORT_JSON_FILE = "report.json"
REPORT_MD_FILE = "report.md"
OOV_TOKEN = "[OOV]"
# In ``models/`` (next to ``bundles/`` and ``current``): one JSON line (GateRecord) per decision of
# the quality gate, appended by training.publish; the console lists it with the bundles.
GATE_LOG_FILE = "gate_decisions.jsonl"


class TensorSpec(BaseModel):
    name: str
    dtype: str  # "int64" | "float32" | "string"
    shape: list[int | None]  # None for dynamic dimensions


class ModelIO(BaseModel):
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class BundleManifest(BaseModel):
    bundle_version: str
    created_at: str  # ISO-8601 UTC
    contracts_version: str
    training_data_start: str  # ISO date, inclusive
    training_data_end: str  # ISO date, exclusive (the evaluation cut-off)
    feature_services: dict[str, str]  # {"retrieval": "retrieval_v1", "ranker": "ranker_v1"}
    embedding_model: str  # text-embedding model name
    embedding_dim: int  # text-embedding dimension
    retrieval_dim: int  # two-tower embedding dimension
    history_len: int  # padded history length the query tower expects
    user_feature_names: list[str]  # order of the query tower / ranker user-feature vector
    item_feature_names: list[str]  # order of the ranker item-feature vector
    ranker_feature_names: list[str] = Field(default_factory=list)  # order of the ranker's input vector
    value_model_weights: dict[str, float]  # ranker head name -> weight in the final score
    onnx_models: dict[str, ModelIO]  # "query_tower", "ranker"
    metrics: dict[str, float] = Field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = Field(default_factory=dict)
    built_from: dict[str, str] = Field(default_factory=dict)  # artifact -> version/hash
    # file name -> sha256 of every file in the bundle except the manifest; publishing verifies them
    file_checksums: dict[str, str] = Field(default_factory=dict)


class GateRecord(BaseModel):
    """One quality-gate decision on a candidate bundle (a line of ``GATE_LOG_FILE``)."""

    bundle_version: str
    decided_at: str  # ISO-8601 UTC
    # published: passed the gate; refused: stays in models/staging; forced: published with --force
    decision: Literal["published", "refused", "forced"]
    message: str
    metric: str  # the gate metric (served_lift@10)
    new: float | None = None  # the candidate's value of ``metric``
    current: float | None = None  # the published bundle's value, when it had one
    current_version: str | None = None  # the bundle that was published when the gate decided
