"""A real (tiny) training run: the bundle matches the contract and its numbers are consistent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lambdarec_contracts import bundle as B
from lambdarec_contracts.feature_vectors import USER_VECTOR_NAMES
from lambdarec_contracts.item_cf import SparseNeighbours
from lambdarec_contracts.ranker_features import RANKER_FEATURE_NAMES
from training import item_cf
from training.bundle_eval import verify_bundle

pytestmark = pytest.mark.slow  # uses the session's real (tiny) TensorFlow training run


def test_bundle_layout_and_manifest(tiny_bundle: Path) -> None:
    m = verify_bundle(tiny_bundle)  # every file present and matching its checksum
    for name in (
        B.QUERY_TOWER_FILE,
        B.RANKER_FILE,
        B.ITEM_EMBEDDINGS_FILE,
        B.USER_VOCAB_FILE,
        B.ITEM_VOCAB_FILE,
        B.ITEMS_FILE,
        B.POPULAR_FILE,
        B.NEIGHBOURS_COLLAB_FILE,
        B.NEIGHBOURS_TEXT_FILE,
        B.ITEM_TEXT_EMBEDDINGS_FILE,
        B.ITEM_CF_FILE,
        B.ITEM_KNN_FILE,
        B.POPULARITY_FILE,
        B.REPORT_JSON_FILE,
        B.REPORT_MD_FILE,
        "recall_at_k.png",
        "training_loss.png",
    ):
        assert name in m.file_checksums, name
    assert m.bundle_version == tiny_bundle.name
    assert m.user_feature_names == USER_VECTOR_NAMES and m.ranker_feature_names == RANKER_FEATURE_NAMES
    assert m.retrieval_dim == 16 and m.history_len == 20
    assert (
        set(m.value_model_weights) == {"p_interaction", "rating"}
        and m.value_model_weights["p_interaction"] == 1.0
    )
    assert [i.name for i in m.onnx_models["ranker"].inputs] == ["features"]
    assert m.onnx_models["ranker"].inputs[0].shape == [None, len(RANKER_FEATURE_NAMES)]
    assert set(m.baselines) == {"most_popular", "item_knn", "ease", "two_tower"}
    assert m.metrics["served_recall@10"] > 0 and m.metrics["served_n_eval_users"] >= 100
    best = max(m.baselines["ease"]["recall@10"], m.baselines["item_knn"]["recall@10"])
    assert m.metrics["served_lift@10"] == pytest.approx(m.metrics["served_recall@10"] / best)
    assert (
        m.metrics["parity_max_abs_diff_query_tower"] <= 1e-5
        and m.metrics["parity_max_abs_diff_ranker"] <= 1e-5
    )


def test_published_item_cf_is_ease_over_all_interactions(tiny_bundle: Path, tiny_data_dir: Path) -> None:
    """The bundle's matrix is refit on every interaction; recompute EASE independently and compare rows."""
    items = json.loads((tiny_bundle / B.ITEM_VOCAB_FILE).read_text())
    cf = SparseNeighbours.load(tiny_bundle / B.ITEM_CF_FILE)
    assert cf.n_items == len(items) and cf.kind == "ease"
    fct = pd.read_parquet(tiny_data_dir / "marts" / "fct_interactions.parquet")
    fct = fct[fct["event_type"] != "not_interested"]  # negative feedback is no co-occurrence
    pos = {x: i for i, x in enumerate(items)}
    users = {u: k for k, u in enumerate(sorted(fct["user_id"].astype(str).unique()))}
    x = np.zeros((len(users), len(items)))
    x[fct["user_id"].astype(str).map(users), fct["item_id"].astype(str).map(pos)] = 1.0
    g = x.T @ x
    p = np.linalg.inv(g + 200.0 * np.eye(len(items)))
    b = np.eye(len(items)) - p / np.diag(p)[None, :]  # Steck (2019), eq. 8
    for row in (1, 7, 30):
        idx, w = cf.row(row)  # the catalogue is smaller than item_cf_keep: every positive weight is kept
        np.testing.assert_allclose(w, b[row, idx], rtol=1e-3, atol=1e-6)
        left_out = np.setdiff1d(np.arange(1, len(items)), idx)
        assert (b[row, left_out] <= 1e-6).all()
        assert (np.diff(w) <= 0).all()  # strongest first
    pop = np.load(tiny_bundle / B.POPULARITY_FILE)
    counts = fct["item_id"].astype(str).value_counts()
    assert pop[pos[counts.index[0]]] == counts.iloc[0]
    assert len(items) <= item_cf.DENSE_MAX_ITEMS


def test_vocab_and_embeddings(tiny_bundle: Path) -> None:
    users = json.loads((tiny_bundle / B.USER_VOCAB_FILE).read_text())
    items = json.loads((tiny_bundle / B.ITEM_VOCAB_FILE).read_text())
    emb = np.load(tiny_bundle / B.ITEM_EMBEDDINGS_FILE)
    assert users[0] == B.OOV_TOKEN and items[0] == B.OOV_TOKEN
    assert len(set(items)) == len(items) == 91  # OOV + the 90-item catalogue
    assert emb.shape == (91, 16) and emb.dtype == np.float32
    assert not emb[0].any()
    np.testing.assert_allclose(np.linalg.norm(emb[1:], axis=1), 1.0, atol=1e-5)


def test_neighbours_are_cosine_top20(tiny_bundle: Path) -> None:
    items = json.loads((tiny_bundle / B.ITEM_VOCAB_FILE).read_text())
    emb = np.load(tiny_bundle / B.ITEM_EMBEDDINGS_FILE)
    nb = json.loads((tiny_bundle / B.NEIGHBOURS_COLLAB_FILE).read_text())
    item = items[5]
    sims = emb[1:] @ emb[5]
    order = np.argsort(-sims)
    expected = [items[1 + j] for j in order if 1 + j != 5][:20]
    assert [n for n, _ in nb[item]] == expected
    text = json.loads((tiny_bundle / B.NEIGHBOURS_TEXT_FILE).read_text())
    assert len(text) == 90 and all(
        len(v) == 20 and item_id not in [n for n, _ in v] for item_id, v in text.items()
    )
    # The text lists are the cosine neighbours of the shipped text embeddings (what publishing
    # indexes in Redis for LAMBDAREC_VECTOR_BACKEND=redis), rows aligned with the vocabulary.
    temb = np.load(tiny_bundle / B.ITEM_TEXT_EMBEDDINGS_FILE)
    assert temb.shape[0] == len(items) and temb.dtype == np.float32
    anchor = next(iter(text))
    a = items.index(anchor)
    norms = np.linalg.norm(temb, axis=1).astype(np.float64)
    cos = np.where(
        norms > 0, temb.astype(np.float64) @ temb[a] / np.maximum(norms, 1e-12) / norms[a], -np.inf
    )
    cos[a] = -np.inf
    listed = [items.index(n) for n, _ in text[anchor]]
    np.testing.assert_allclose(cos[listed], [sim for _, sim in text[anchor]], atol=1e-4)
    assert np.delete(cos, listed).max() <= min(sim for _, sim in text[anchor]) + 1e-4  # the top 20


def test_popular_lists(tiny_bundle: Path, tiny_data_dir: Path) -> None:
    pop = json.loads((tiny_bundle / B.POPULAR_FILE).read_text())
    fct = pd.read_parquet(tiny_data_dir / "marts" / "fct_interactions.parquet")
    end = fct["event_ts"].max() + pd.Timedelta(seconds=1)
    recent = fct[(fct["event_ts"] >= end - pd.Timedelta(days=30)) & fct["is_positive"]]
    top_count = recent.groupby("item_id").size().max()
    assert recent.groupby("item_id").size()[pop["overall"][0]] == top_count
    items = json.loads((tiny_bundle / B.ITEMS_FILE).read_text())
    for genre, lst in pop["by_genre"].items():
        assert all(genre in items[i]["genres"] for i in lst)


def test_report_puts_the_served_blend_next_to_the_baselines(tiny_bundle: Path) -> None:
    rep = json.loads((tiny_bundle / B.REPORT_JSON_FILE).read_text())
    assert set(rep["retrieval"]) == {"served", "two_tower", "most_popular", "item_knn", "ease"}
    served = rep["retrieval"]["served"]
    assert served["n_eval_users"] == rep["retrieval"]["ease"]["n_eval_users"]  # same users, same split
    assert rep["served"]["seen_items_served"] == 0  # nothing from a user's own history, ever
    share = rep["served"]["generator_share@10"]
    assert set(share) <= {"item_cf", "two_tower", "because_you_liked", "trending", "popular"} and share
    assert {"auc_p_interaction", "auc_rating_head", "candidate_recall"} <= set(rep["ranker"])
    assert len(rep["losses"]["retrieval"]) == 2
    md = (tiny_bundle / B.REPORT_MD_FILE).read_text()
    assert "Served blend vs baselines" in md and "| ease |" in md and "recall_at_k.png" in md
    assert (tiny_bundle / "recall_at_k.png").read_bytes()[:4] == b"\x89PNG"
