"""TFRS models: they only wire towers and tasks (the towers live in ``towers.py``)."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from training.towers import CandidateTower, QueryTower, Ranker

keras = tf.keras


def retrieval_task(
    candidates: tf.data.Dataset | None = None, temperature: float | None = None
) -> tfrs.tasks.Retrieval:
    """In-batch softmax retrieval task; top-k metrics over ``candidates`` (only computed when evaluating)."""
    metrics = None
    if candidates is not None:
        metrics = tfrs.metrics.FactorizedTopK(candidates=candidates, ks=(10, 50, 100))
    return tfrs.tasks.Retrieval(metrics=metrics, temperature=temperature, remove_accidental_hits=True)


def retrieval_loss(
    task: tfrs.tasks.Retrieval,
    query: tf.Tensor,
    candidates: tf.Tensor,
    candidate_ids: tf.Tensor,
    sampling_probability: tf.Tensor | None,
    training: bool,
) -> tf.Tensor:
    """Sum over the batch of softmax cross-entropy of each query's own candidate among the batch's.

    With ``sampling_probability`` (item frequency / total), logits are corrected by -log(p) so
    popular items, over-represented as in-batch negatives, are not pushed down (logQ correction).
    """
    return task(
        query,
        candidates,
        candidate_sampling_probability=sampling_probability,
        candidate_ids=candidate_ids,
        compute_metrics=not training,
    )


class TwoTowerModel(tfrs.Model):
    """Query tower + candidate tower + retrieval task."""

    def __init__(
        self,
        query_tower: QueryTower,
        candidate_tower: CandidateTower,
        task: tfrs.tasks.Retrieval,
        sampling_bias_correction: bool = True,
    ) -> None:
        super().__init__()
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.task = task
        self.sampling_bias_correction = sampling_bias_correction

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        query = self.query_tower(features)
        candidates = self.candidate_tower(features["item_idx"])
        prob = features["item_prob"] if self.sampling_bias_correction else None
        return retrieval_loss(self.task, query, candidates, features["item_idx"], prob, training)


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
