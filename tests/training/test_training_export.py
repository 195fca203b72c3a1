"""ONNX export: contract names, onnx.checker, and TF-vs-onnxruntime parity (unknown ids, empty histories)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf

from training import export
from training.towers import QueryTower, Ranker

CONTRACT_QUERY_INPUTS = ["user_idx", "history_idx", "history_mask", "user_features"]


@pytest.fixture(scope="module")
def query_model() -> tf.keras.Model:
    tf.keras.utils.set_random_seed(5)
    tower = QueryTower(n_users=20, n_items=30, n_user_features=4, dim=8)
    return export.functional_query_model(tower, history_len=6, n_user_features=4)


def test_query_tower_onnx_parity(query_model: tf.keras.Model, tmp_path: Path) -> None:
    path = tmp_path / "q.onnx"
    io = export.to_onnx(query_model, export.query_tower_signature(6, 4), path)
    assert [i.name for i in io.inputs] == CONTRACT_QUERY_INPUTS
    assert [o.name for o in io.outputs] == ["query_embedding"]
    assert io.inputs[1].dtype == "int64" and io.inputs[2].dtype == "float32"
    feeds = export.query_parity_feeds(20, 30, 6, np.random.default_rng(1).random((10, 4), dtype=np.float32))
    assert (feeds["user_idx"] == 0).any() and (feeds["history_mask"].sum(1) == 0).any()
    diff = export.parity(query_model, path, feeds)
    assert diff <= export.PARITY_TOL
    # Independently: onnxruntime output for an unknown user with an empty history is a unit vector
    # equal to TF's.
    one = {k: v[:1] for k, v in feeds.items()}
    got = ort.InferenceSession(str(path)).run(["query_embedding"], one)[0]
    want = query_model(one)["query_embedding"].numpy()
    assert got.shape == (1, 8)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got), 1.0, atol=1e-5)


def test_parity_check_catches_a_different_model(query_model: tf.keras.Model, tmp_path: Path) -> None:
    path = tmp_path / "q.onnx"
    export.to_onnx(query_model, export.query_tower_signature(6, 4), path)
    tf.keras.utils.set_random_seed(6)
    other = export.functional_query_model(QueryTower(20, 30, 4, dim=8), 6, 4)
    feeds = export.query_parity_feeds(20, 30, 6, np.zeros((8, 4), np.float32))
    with pytest.raises(export.ExportError, match="parity failed"):
        export.parity(other, path, feeds)


def test_ranker_onnx_parity(tmp_path: Path) -> None:
    tf.keras.utils.set_random_seed(7)
    ranker = Ranker(hidden=(16,))
    rng = np.random.default_rng(2)
    train = (rng.random((50, 6)) * [1, 10, 100, 0.1, 5, 1]).astype(np.float32)
    ranker.adapt(train)  # the exported model standardises its raw inputs itself
    model = export.functional_ranker(ranker, 6)
    path = tmp_path / "r.onnx"
    io = export.to_onnx(model, export.ranker_signature(6), path)
    assert [i.name for i in io.inputs] == ["features"] and io.inputs[0].shape == [None, 6]
    assert sorted(o.name for o in io.outputs) == ["p_interaction", "rating"]
    feeds = {"features": np.vstack([train[:8], np.zeros((1, 6), np.float32)])}
    assert export.parity(model, path, feeds) <= export.PARITY_TOL
