"""Keras towers (tf-keras, legacy Keras 2 API). Each tower is a small model that takes its
vocabulary sizes / item tables as arguments; the TFRS models in ``models.py`` only wire them.

Index conventions match the bundle contract: index 0 is OOV/padding; ids whose index is above
the trained range (catalogue items never seen in training) fall back to the OOV row, so an
untrained random embedding can never reach serving.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from training.data import ItemContent

keras = tf.keras  # tf_keras under TF_USE_LEGACY_KERAS=1


def _clip_to_trained(idx: tf.Tensor, n_trained: int) -> tf.Tensor:
    idx = tf.cast(idx, tf.int64)
    return tf.where((idx > n_trained) | (idx < 0), tf.zeros_like(idx), idx)


def mean_embedding(
    table: tf.Tensor, idx: tf.Tensor, valid: tf.Tensor, order: tf.Tensor | None = None
) -> tf.Tensor:
    """Per row b, the mean of ``table[idx[b, h]]`` over the entries with ``valid[b, h]`` (zeros if
    none), ``idx`` [B, H] int64, ``valid`` [B, H] bool; entries whose index is outside the table
    must be invalid.

    Both ways are sorted segment sums that never build the [B, H, d] gathered rows: the forward
    sums each row's valid entries, the table's gradient (dense) sums, per table row, the scaled
    upstream rows of the entries pointing at it, visited in ``order`` (ascending ``idx``: the input
    pipeline's ``retrieval_data.history_order``; sorted here if None), invalid entries reading a
    zero row. TF's own path (gather, mask, sum; the gather's sparse gradient made dense by an
    unsorted segment sum) costs twice as much per step."""
    table = tf.convert_to_tensor(table)
    n_rows, dim = tf.shape(table)[0], tf.shape(table)[1]
    n, width = tf.shape(idx)[0], tf.shape(idx)[1]
    flat, ok = tf.reshape(idx, [-1]), tf.reshape(valid, [-1])
    rows = tf.repeat(tf.range(n), width)
    keep = tf.where(ok)[:, 0]
    inv_count = 1.0 / tf.maximum(tf.reduce_sum(tf.cast(valid, tf.float32), axis=1, keepdims=True), 1.0)

    @tf.custom_gradient
    def mean_of(tab: tf.Tensor) -> tuple[tf.Tensor, object]:
        total = tf.sparse.segment_sum(tab, tf.gather(flat, keep), tf.gather(rows, keep), num_segments=n)

        def grad(dy: tf.Tensor) -> tf.Tensor:
            o = tf.argsort(flat) if order is None else tf.cast(order, tf.int32)
            ids = tf.maximum(tf.gather(flat, o), 0)  # still ascending
            src = tf.gather(tf.where(ok, rows, n), o)  # invalid entries: the zero row n
            data = tf.concat([dy * inv_count, tf.zeros([1, dim], dy.dtype)], axis=0)
            n_seg = tf.maximum(tf.cast(n_rows, ids.dtype), tf.reduce_max(ids) + 1)
            return tf.sparse.segment_sum(data, src, ids, num_segments=n_seg)[:n_rows]

        return total * inv_count, grad

    return mean_of(table)


class QueryTower(keras.Model):
    """User id embedding + masked mean of recent-item embeddings + user features -> unit vector."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_user_features: int,
        dim: int = 64,
        hidden: int = 128,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.n_users, self.n_items, self.n_user_features, self.dim = n_users, n_items, n_user_features, dim
        self.user_embedding = keras.layers.Embedding(n_users + 1, dim, name="user_embedding")
        self.history_embedding = keras.layers.Embedding(n_items + 1, dim, name="history_embedding")
        self.feature_proj = keras.layers.Dense(32, activation="relu", name="user_feature_proj")
        self.hidden = keras.layers.Dense(hidden, activation="relu", name="query_hidden")
        self.out = keras.layers.Dense(dim, name="query_out")

    def call(self, inputs: dict[str, tf.Tensor], training: bool | None = None) -> tf.Tensor:
        user = self.user_embedding(_clip_to_trained(inputs["user_idx"], self.n_users))
        hist_idx = _clip_to_trained(inputs["history_idx"], self.n_items)
        # Only known items count, whatever the caller's mask says about OOV entries (a mask
        # entry counts when > 0).
        valid = (tf.cast(inputs["history_mask"], tf.float32) > 0.0) & (hist_idx > 0)
        if training:
            # The same mean, its table gradient a sorted segment sum (``mean_embedding``).
            if not self.history_embedding.built:
                self.history_embedding.build(None)
            # Raw indices (the pipeline's order sorts them); the invalid entries are never read.
            raw = tf.cast(inputs["history_idx"], tf.int64)
            pooled = mean_embedding(
                self.history_embedding.embeddings, raw, valid, inputs.get("history_order")
            )
        else:
            mask = tf.cast(valid, tf.float32)
            hist = self.history_embedding(hist_idx) * mask[..., None]
            pooled = tf.reduce_sum(hist, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
        feats = self.feature_proj(tf.cast(inputs["user_features"], tf.float32))
        x = self.hidden(tf.concat([user, pooled, feats], axis=-1))
        return tf.math.l2_normalize(self.out(x), axis=-1)


class CandidateTower(keras.Model):
    """Item id embedding + genres multi-hot + year + projected text embedding -> unit vector.

    The per-item content tables are constants of the tower (rows in item-vocab order), so the
    tower's input is just the item index and candidate embeddings for the whole catalogue are
    one call at export time.
    """

    def __init__(
        self, n_items: int, content: ItemContent, dim: int = 64, hidden: int = 128, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.n_items, self.dim = n_items, dim
        self.genres = tf.constant(content.genres)
        self.year = tf.constant(content.year)
        self.text = tf.constant(content.text) if content.text.shape[1] else None
        self.item_embedding = keras.layers.Embedding(n_items + 1, dim, name="item_embedding")
        self.text_proj = (
            keras.layers.Dense(32, activation="relu", name="text_proj") if self.text is not None else None
        )
        self.hidden = keras.layers.Dense(hidden, activation="relu", name="candidate_hidden")
        self.out = keras.layers.Dense(dim, name="candidate_out")

    def call(self, item_idx: tf.Tensor) -> tf.Tensor:
        item_idx = tf.cast(tf.reshape(item_idx, [-1]), tf.int64)
        parts = [
            self.item_embedding(_clip_to_trained(item_idx, self.n_items)),
            tf.gather(self.genres, item_idx),
            tf.gather(self.year, item_idx),
        ]
        if self.text is not None:
            parts.append(self.text_proj(tf.gather(self.text, item_idx)))
        x = self.hidden(tf.concat(parts, axis=-1))
        return tf.math.l2_normalize(self.out(x), axis=-1)


class Ranker(keras.Model):
    """MLP over the served-candidate vector (``lambdarec_contracts.ranker_features``), one output per head.

    ``p_interaction`` (will the user interact with this candidate next?) orders the served list;
    ``rating`` (stars, trained on the rated positives only) is secondary. Inputs are standardised
    by a Normalization layer adapted on the training examples, so the exported model takes the raw
    vector serving builds.
    """

    HEADS = ("p_interaction", "rating")

    def __init__(self, hidden: tuple[int, ...] = (64, 32), **kwargs) -> None:
        super().__init__(**kwargs)
        self.norm = keras.layers.Normalization(name="ranker_norm")
        self.body = [
            keras.layers.Dense(h, activation="relu", name=f"ranker_hidden_{i}") for i, h in enumerate(hidden)
        ]
        self.p_interaction = keras.layers.Dense(1, activation="sigmoid", name="p_interaction")
        # The rating head starts at a typical rating so early training is not spent on the bias.
        self.rating = keras.layers.Dense(1, name="rating", bias_initializer=keras.initializers.Constant(3.5))

    def adapt(self, features: np.ndarray) -> None:
        # One batch: exact moments in one step (adapt's default batches of 32 cost ~10k steps at 400k rows).
        self.norm.adapt(features, batch_size=max(1, len(features)))
        # A constant input (a catalogue without genres, no recent events) has variance 0 and would
        # be divided by ~1e-7 (and differ between TF and ONNX): it stays at 0 after centring instead.
        var = self.norm.adapt_variance.numpy()
        if (var <= 1e-12).any():
            self.norm.adapt_variance.assign(np.where(var <= 1e-12, 1.0, var))
            self.norm.finalize_state()

    def call(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        x = self.norm(inputs["features"])
        for layer in self.body:
            x = layer(x)
        return {"p_interaction": self.p_interaction(x), "rating": self.rating(x)}


class RankerEnsemble(keras.Model):
    """The mean of several rankers' heads (members trained alone, from different seeds)."""

    HEADS = Ranker.HEADS

    def __init__(self, members: list[Ranker], **kwargs) -> None:
        super().__init__(**kwargs)
        self.members = members

    def call(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outs = [m(inputs) for m in self.members]
        return {h: tf.add_n([o[h] for o in outs]) / float(len(outs)) for h in self.HEADS}
