"""ONNX export of the query tower and the ranker, with a TF-vs-onnxruntime parity check.

The towers are wrapped as functional Keras models whose input and output names are exactly
the contract's (lambdarec_contracts.bundle), converted with ``tf2onnx.convert.from_keras`` and
checked with ``onnx.checker``; then the same inputs (including unknown ids and empty
histories) go through TensorFlow and onnxruntime and the outputs must agree to ``PARITY_TOL``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from lambdarec_contracts.bundle import ModelIO, TensorSpec
from training.towers import QueryTower, Ranker

keras = tf.keras
PARITY_TOL = 1e-5
OPSET = 17


class ExportError(Exception):
    """Export or parity failed."""


def query_tower_signature(history_len: int, n_user_features: int) -> list[tf.TensorSpec]:
    return [
        tf.TensorSpec((None,), tf.int64, name="user_idx"),
        tf.TensorSpec((None, history_len), tf.int64, name="history_idx"),
        tf.TensorSpec((None, history_len), tf.float32, name="history_mask"),
        tf.TensorSpec((None, n_user_features), tf.float32, name="user_features"),
    ]


def ranker_signature(n_features: int) -> list[tf.TensorSpec]:
    return [tf.TensorSpec((None, n_features), tf.float32, name="features")]


def _inputs(signature: list[tf.TensorSpec]) -> dict[str, tf.Tensor]:
    return {s.name: keras.Input(shape=s.shape[1:], dtype=s.dtype, name=s.name) for s in signature}


def functional_query_model(tower: QueryTower, history_len: int, n_user_features: int) -> keras.Model:
    """The query tower as a functional model: named inputs -> {"query_embedding": [N, D]}."""
    inputs = _inputs(query_tower_signature(history_len, n_user_features))
    out = keras.layers.Lambda(lambda t: t, name="query_embedding")(tower(inputs))
    return keras.Model(inputs=list(inputs.values()), outputs={"query_embedding": out}, name="query_tower")


def functional_ranker(ranker: Ranker, n_features: int) -> keras.Model:
    """The ranker as a functional model: {"features": [N, F]} -> one [N, 1] output per head."""
    inputs = _inputs(ranker_signature(n_features))
    heads = ranker(inputs)
    outputs = {h: keras.layers.Lambda(lambda t: t, name=h)(heads[h]) for h in Ranker.HEADS}
    return keras.Model(inputs=list(inputs.values()), outputs=outputs, name="ranker")


def to_onnx(model: keras.Model, signature: list[tf.TensorSpec], path: Path) -> ModelIO:
    """Convert, check and save; returns the model's I/O as recorded in the manifest."""
    import onnx
    import tf2onnx

    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=OPSET)
    onnx.checker.check_model(proto)
    input_names = [i.name for i in proto.graph.input]
    expected = [s.name for s in signature]
    if input_names != expected:
        raise ExportError(f"ONNX inputs {input_names} differ from the contract {expected}")
    path.write_bytes(proto.SerializeToString())

    def spec(value_info: onnx.ValueInfoProto) -> TensorSpec:
        t = value_info.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        return TensorSpec(name=value_info.name, dtype=dtype, shape=dims)

    return ModelIO(inputs=[spec(i) for i in proto.graph.input], outputs=[spec(o) for o in proto.graph.output])


def parity(model: keras.Model, onnx_path: Path, feeds: dict[str, np.ndarray]) -> float:
    """Max abs difference between TF and onnxruntime outputs on ``feeds``; raises above PARITY_TOL."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path))
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(names, feeds), strict=True))
    want = model({k: tf.constant(v) for k, v in feeds.items()})
    diff = max(float(np.max(np.abs(got[n] - np.asarray(want[n])))) for n in names)
    if not np.isfinite(diff) or diff > PARITY_TOL:
        raise ExportError(f"ONNX parity failed for {onnx_path.name}: max abs diff {diff:.3g} > {PARITY_TOL}")
    return diff


def query_parity_feeds(
    n_users: int, n_items: int, history_len: int, user_features: np.ndarray, seed: int = 0
) -> dict[str, np.ndarray]:
    """Parity inputs: known, unknown (0) and out-of-range ids; full, partial and empty histories."""
    rng = np.random.default_rng(seed)
    n = max(len(user_features), 8)
    feats = np.zeros((n, user_features.shape[1]), np.float32)
    feats[: len(user_features)] = user_features[:n]
    user_idx = rng.integers(0, n_users + 1, size=n).astype(np.int64)
    user_idx[:2] = 0  # unknown users
    user_idx[2] = n_users + 5  # beyond the vocabulary: must behave as OOV, not crash
    hist = rng.integers(0, n_items + 1, size=(n, history_len)).astype(np.int64)
    lengths = rng.integers(0, history_len + 1, size=n)
    lengths[0] = lengths[3] = 0  # empty histories
    lengths[4] = history_len
    mask = (np.arange(history_len)[None, :] < lengths[:, None]).astype(np.float32)
    hist = hist * mask.astype(np.int64)
    return {"user_idx": user_idx, "history_idx": hist, "history_mask": mask, "user_features": feats}
