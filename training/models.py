"""TFRS models (they wire the towers of ``towers.py``) and the two-tower in-batch softmax loss."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from training.towers import CandidateTower, QueryTower, Ranker

keras = tf.keras


def softmax_cross_entropy_sum(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """``sum(sparse_softmax_cross_entropy_with_logits(labels, logits))`` with its exact gradient
    (softmax - one-hot), from one softmax: TF's fused cross-entropy kernel is plain Eigen and costs
    five times the oneDNN softmax on a [2048, 1000] batch. The loss value is
    ``-log(softmax[label])``, capped at -log(float32's smallest normal) = 87.3 per row should
    the label's probability underflow (a logit 87 below the row's largest); the gradient is not."""
    idx = tf.stack([tf.range(tf.shape(labels)[0], dtype=labels.dtype), labels], axis=1)

    @tf.custom_gradient
    def ce(x: tf.Tensor) -> tuple[tf.Tensor, object]:
        p = tf.nn.softmax(x)
        loss = -tf.reduce_sum(tf.math.log(tf.maximum(tf.gather_nd(p, idx), 1.1754944e-38)))

        def grad(dy: tf.Tensor) -> tf.Tensor:
            return tf.tensor_scatter_nd_sub(p * dy, idx, tf.fill(tf.shape(labels), dy))

        return loss, grad

    return ce(logits)


def in_batch_softmax_loss(
    query: tf.Tensor,
    candidates: tf.Tensor,
    position: tf.Tensor,
    sampling_probability: tf.Tensor | None,
    temperature: float | None,
) -> tf.Tensor:
    """Summed in-batch softmax cross-entropy, computed over the batch's distinct items.

    ``query`` [B, d]: one per row; ``candidates`` [U, d]: one per distinct item of the batch;
    ``position`` [B]: the column of each row's own item; ``sampling_probability`` [U]: each distinct
    item's share of the training rows (logQ correction: logits - log(p), so popular items,
    over-represented as in-batch negatives, are not pushed down).

    Exactly TFRS's ``Retrieval`` task with ``remove_accidental_hits`` over the B rows' candidates
    (B columns, an item's copies all negatives of the other rows, and removed from the rows of the
    same item): an item with n copies is one column whose logit carries + log(n) (n equal terms of
    the softmax's sum), except in its own rows, where the other copies are accidental hits. The
    candidate tower then runs on U <= B items and the logits are [B, U]: no [B, B] one-hot labels,
    duplicate mask or per-copy embeddings. The [B, U] work is one matmul with its column bias
    (temperature applied to the [B, d] queries, log(n) - log(p) summed per column), one scatter
    and one softmax (``softmax_cross_entropy_sum``).
    """
    if temperature:
        query = query * (1.0 / temperature)
    n_distinct = tf.shape(candidates)[0]
    log_copies = tf.math.log(
        tf.math.unsorted_segment_sum(tf.ones_like(position, tf.float32), position, n_distinct)
    )
    bias = log_copies
    if sampling_probability is not None:
        bias = bias - tf.math.log(tf.clip_by_value(sampling_probability, 1e-6, 1.0))
    scores = tf.nn.bias_add(tf.linalg.matmul(query, candidates, transpose_b=True), bias)
    own = tf.stack([tf.range(tf.shape(position)[0], dtype=position.dtype), position], axis=1)
    scores = tf.tensor_scatter_nd_sub(scores, own, tf.gather(log_copies, position))
    return softmax_cross_entropy_sum(scores, position)


def retrieval_loss(
    query: tf.Tensor,
    candidate_tower: CandidateTower,
    item_ids: tf.Tensor,
    sampling_probability: tf.Tensor | None,
    temperature: float | None,
) -> tf.Tensor:
    """``in_batch_softmax_loss`` of the rows' queries against their items (``item_ids`` [B], with
    ``sampling_probability`` [B] per row), the candidate tower run once per distinct item."""
    distinct, position = tf.unique(tf.reshape(item_ids, [-1]))
    prob = None
    if sampling_probability is not None:
        # every copy of an item carries the same probability: the first one's
        first = tf.math.unsorted_segment_min(tf.range(tf.shape(position)[0]), position, tf.shape(distinct)[0])
        prob = tf.gather(tf.reshape(sampling_probability, [-1]), first)
    return in_batch_softmax_loss(query, candidate_tower(distinct), position, prob, temperature)


def retrieval_optimizer(learning_rate: float) -> keras.optimizers.Optimizer:
    """Adam as ``keras.optimizers.Adam`` computes it (same update, same epsilon), in TF's fused
    kernel (one op per variable instead of a handful): a third of the optimizer's time per step."""
    return keras.optimizers.legacy.Adam(learning_rate)


class TwoTowerModel(tfrs.Model):
    """Query tower + candidate tower, trained with the in-batch softmax (``retrieval_loss``)."""

    def __init__(
        self,
        query_tower: QueryTower,
        candidate_tower: CandidateTower,
        temperature: float | None = None,
        sampling_bias_correction: bool = True,
    ) -> None:
        super().__init__()
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.temperature = temperature
        self.sampling_bias_correction = sampling_bias_correction

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        query = self.query_tower(features, training=training)
        prob = features["item_prob"] if self.sampling_bias_correction else None
        return retrieval_loss(query, self.candidate_tower, features["item_idx"], prob, self.temperature)

    def train_step(self, inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """``tfrs.Model.train_step`` with dense gradients: the embedding lookups' sparse gradients
        (a row per looked-up index, 20 per example for the history) take Adam's sparse path,
        which deduplicates and scatters them and still updates every row of its moments; summed
        into one dense gradient per table first, the update is the same at a fraction of the cost
        (the tables are thousands of rows, not millions)."""
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization_loss = tf.reduce_sum([tf.reduce_sum(x) for x in self.losses])
            total_loss = loss + regularization_loss
        gradients = tape.gradient(total_loss, self.trainable_variables)
        dense = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in gradients]
        self.optimizer.apply_gradients(zip(dense, self.trainable_variables, strict=True))
        metrics = {metric.name: metric.result() for metric in self.metrics}
        metrics["loss"] = loss
        metrics["regularization_loss"] = regularization_loss
        metrics["total_loss"] = total_loss
        return metrics


class RankingModel(tfrs.Model):
    """Ranker: BCE on "interacted next" for every served-like candidate, MSE on the rating of rated positives."""

    def __init__(self, ranker: Ranker, rating_weight: float = 0.1) -> None:
        super().__init__()
        self.ranker = ranker
        self.rating_weight = rating_weight
        self.interaction_task = tfrs.tasks.Ranking(
            loss=keras.losses.BinaryCrossentropy(), metrics=[keras.metrics.AUC(name="auc")]
        )
        self.rating_task = tfrs.tasks.Ranking(
            loss=keras.losses.MeanSquaredError(), metrics=[keras.metrics.RootMeanSquaredError(name="rmse")]
        )

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        out = self.ranker(features)
        interaction_loss = self.interaction_task(
            labels=features["label"], predictions=out["p_interaction"], compute_metrics=not training
        )
        rating_loss = self.rating_task(
            labels=features["rating"],
            predictions=out["rating"],
            sample_weight=features["has_rating"],
            compute_metrics=not training,
        )
        return interaction_loss + self.rating_weight * rating_loss
