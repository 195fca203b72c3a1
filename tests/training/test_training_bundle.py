"""A real (tiny) training run: the bundle matches the contract and its numbers are consistent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lambdarec_contracts import bundle as B
from lambdarec_contracts.feature_vectors import ITEM_VECTOR_NAMES, USER_VECTOR_NAMES
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
        B.REPORT_JSON_FILE,
        B.REPORT_MD_FILE,
        "recall_at_k.png",
        "training_loss.png",
    ):
        assert name in m.file_checksums, name
    assert m.bundle_version == tiny_bundle.name
    assert m.user_feature_names == USER_VECTOR_NAMES and m.item_feature_names == ITEM_VECTOR_NAMES
    assert m.retrieval_dim == 16 and m.history_len == 20
    assert m.value_model_weights == {"rating": 0.5, "p_positive": 0.5}
    assert [i.name for i in m.onnx_models["query_tower"].inputs] == [
        "user_idx",
        "history_idx",
        "history_mask",
        "user_features",
    ]
    assert m.onnx_models["query_tower"].inputs[3].shape == [None, len(USER_VECTOR_NAMES)]
    assert set(m.baselines) == {"most_popular", "cooccurrence"}
    assert m.training_data_end == "2024-02-20"
    # The gate evaluates through ONNX; it must reproduce the TensorFlow evaluation exactly.
    assert abs(m.metrics["onnx_recall@10"] - m.metrics["recall@10"]) < 1e-9
    assert m.metrics["parity_max_abs_diff_query_tower"] <= 1e-5


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
    assert nb[item][0][1] == round(float(sims[order[0] if order[0] != 4 else order[1]]), 6)
    text = json.loads((tiny_bundle / B.NEIGHBOURS_TEXT_FILE).read_text())
    assert len(text) == 90 and all(
        len(v) == 20 and item_id not in [n for n, _ in v] for item_id, v in text.items()
    )


def test_popular_lists(tiny_bundle: Path, tiny_data_dir: Path) -> None:
    pop = json.loads((tiny_bundle / B.POPULAR_FILE).read_text())
    fct = pd.read_parquet(tiny_data_dir / "marts" / "fct_interactions.parquet")
    end = pd.Timestamp("2024-03-01", tz="UTC")
    recent = fct[
        (fct["event_ts"] >= end - pd.Timedelta(days=30)) & (fct["event_ts"] < end) & fct["is_positive"]
    ]
    top_count = recent.groupby("item_id").size().max()
    assert recent.groupby("item_id").size()[pop["overall"][0]] == top_count
    items = json.loads((tiny_bundle / B.ITEMS_FILE).read_text())
    for genre, lst in pop["by_genre"].items():
        assert all(genre in items[i]["genres"] for i in lst)


def test_report(tiny_bundle: Path) -> None:
    rep = json.loads((tiny_bundle / B.REPORT_JSON_FILE).read_text())
    assert set(rep["retrieval"]) == {"two_tower", "most_popular", "cooccurrence"}
    assert len(rep["losses"]["retrieval"]) == 2
    md = (tiny_bundle / B.REPORT_MD_FILE).read_text()
    assert "| most_popular |" in md and "lift recall@10" in md and "recall_at_k.png" in md
    assert (tiny_bundle / "recall_at_k.png").read_bytes()[:4] == b"\x89PNG"
