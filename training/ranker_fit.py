"""Step 3: the ranker, trained on served-like candidates, and the value-model weights chosen offline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from lambdarec_contracts.item_activity import day_number

from . import evaluation
from .config import TrainConfig
from .log import log
from .models import RankingModel
from .prepare import Prepared
from .ranker_data import Examples, fit_generators, served_like_examples
from .retrieval import Retrieval, user_state_at
from .towers import Ranker, RankerEnsemble

RATING_WEIGHT_GRID = (0.0, 0.05, 0.1, 0.2, 0.5)


@dataclass
class RankerFit:
    ranker: Ranker | RankerEnsemble
    value_weights: dict[str, float]
    metrics: dict[str, float] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)


def _sample_users(users: list[str], cap: int, seed: int) -> list[str]:
    """All ``users`` up to ``cap``; above it a seeded sample of ``cap`` of them, in their order.

    Examples are every candidate of every user (memory grows with users x candidates, ~250 each);
    the ensemble's bags draw far fewer than a capped pool still holds.
    """
    if len(users) <= cap:
        return users
    keep = np.sort(np.random.default_rng(seed).choice(len(users), cap, replace=False))
    log(f"ranker: examples from a seeded sample of {cap} of the ranker split's {len(users)} users")
    return [users[i] for i in keep]


def _examples(prep: Prepared, retrieval: Retrieval | None, cfg: TrainConfig, training_set) -> Examples:  # noqa: ANN001
    rs = prep.ranker_split
    users = _sample_users(sorted(rs.heldout["user_id"].unique().tolist()), cfg.ranker_max_users, cfg.seed)
    t = time.perf_counter()
    base = fit_generators(prep, rs.train, cfg)
    log(f"ranker: generators at the ranker cut-off fit in {time.perf_counter() - t:.1f} s")
    queries = None
    if retrieval is not None:
        recent, feats = user_state_at(prep, rs.train, users, cfg, training_set)
        queries = retrieval.queries(prep, users, recent, feats, cfg)
    return served_like_examples(
        base,
        prep.histories(rs.train, users),
        prep.targets(rs.heldout, users),
        queries,
        None if retrieval is None else retrieval.item_emb,
        cfg.candidates_per_generator,
        prep.activity,
        day_number(rs.cut_ts.reindex(users)),
    )


def _served_quality(score: np.ndarray, ex: Examples, rows: np.ndarray, k: int = 10) -> float:
    """Recall@k + NDCG@k of ordering each validation user's candidates by ``score`` (labels = what came next).

    Both, because the gate judges both: recall counts what reaches the page, NDCG where on it.
    One sort over all ``rows`` (by user, then score; ties keep row order), no loop over users.
    """
    if not len(rows):
        return float("nan")
    group, label = ex.group[rows], ex.label[rows, 0].astype(np.float64)
    order = np.lexsort((-score[rows], group))
    group, label = group[order], label[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, len(group)])
    rank = np.arange(len(group)) - np.repeat(starts, sizes)
    n_pos = np.add.reduceat(label, starts)
    top = rank < k
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    hits = np.add.reduceat(label * top, starts)
    dcg = np.add.reduceat(np.where(top, label * discounts[np.minimum(rank, k - 1)], 0.0), starts)
    ideal = np.cumsum(discounts)[np.minimum(n_pos, k).astype(np.int64) - 1]
    has = n_pos > 0
    if not has.any():
        return float("nan")
    return float(np.mean(hits[has] / n_pos[has]) + np.mean(dcg[has] / ideal[has]))


def _heads(
    ranker: Ranker | RankerEnsemble, features: np.ndarray, chunk: int = 262_144
) -> dict[str, np.ndarray]:
    """Each head's output, float64 [N]: direct calls on big chunks (``predict`` pays for a new input
    pipeline on every call, each epoch)."""
    outs = [
        ranker({"features": tf.constant(features[lo : lo + chunk])}, training=False)
        for lo in range(0, len(features), chunk)
    ]
    return {h: np.concatenate([o[h].numpy()[:, 0] for o in outs]).astype(np.float64) for h in Ranker.HEADS}


class BestOnValidation(tf.keras.callbacks.Callback):
    """Keeps the weights of the epoch whose ordering of the validation users' candidates is best.

    The measure is the served one (Recall@10 + NDCG@10 of each validation user's candidate list
    ordered by ``p_interaction``), not the loss: the ranker's job is the order of the top of the list. Stops
    after ``patience`` epochs without improvement.
    """

    def __init__(self, ranker: Ranker, ex: Examples, rows: np.ndarray, patience: int) -> None:
        super().__init__()
        self.ranker, self.ex, self.rows, self.patience = ranker, ex, rows, patience
        self.best, self.best_epoch, self.weights = -1.0, -1, None
        self.history: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        p = np.zeros(len(self.ex))
        p[self.rows] = _heads(self.ranker, self.ex.features[self.rows])["p_interaction"]
        quality = _served_quality(p, self.ex, self.rows)
        self.history.append(quality)
        if quality > self.best:
            self.best, self.best_epoch, self.weights = quality, epoch, self.ranker.get_weights()
        elif epoch - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.weights is not None:
            self.ranker.set_weights(self.weights)


def _bag(ex: Examples, rows: np.ndarray, max_examples: int, seed: int) -> np.ndarray:
    """All of ``rows`` when they fit in ``max_examples``; else the rows of a seeded random sample of
    their users that does (each ensemble member draws its own: bagging bounds the cost on big data)."""
    if len(rows) <= max_examples:
        return rows
    users, counts = np.unique(ex.group[rows], return_counts=True)
    order = np.random.default_rng(seed).permutation(len(users))
    keep = users[order[: max(1, int(np.searchsorted(np.cumsum(counts[order]), max_examples, side="right")))]]
    return rows[np.isin(ex.group[rows], keep)]


class _Member(NamedTuple):
    ranker: Ranker
    best: BestOnValidation  # its epochs' validation measure and the kept epoch
    losses: list[float]
    n_examples: int


def _fit_member(ex: Examples, tr: np.ndarray, va: np.ndarray, cfg: TrainConfig, seed: int) -> _Member:
    """One ranker, its weights from the epoch that ordered the validation users' lists best."""
    tf.keras.utils.set_random_seed(seed)
    ranker = Ranker()
    ranker.adapt(ex.features[tr])
    model = RankingModel(ranker, cfg.rating_loss_weight)
    cols = {"features": ex.features, "label": ex.label, "rating": ex.rating, "has_rating": ex.has_rating}
    data = {k: v[tr] for k, v in cols.items()}
    n, batch = len(tr), cfg.ranker_batch_size
    model.compile(optimizer=tf.keras.optimizers.Adam(cfg.ranker_learning_rate))
    # Small data: enough updates to learn anything (a few hundred), however few the examples.
    steps_per_epoch = max(1, -(-n // batch))
    epochs = min(50, max(cfg.ranker_epochs, -(-cfg.min_ranker_steps // steps_per_epoch)))
    keep_best = BestOnValidation(ranker, ex, va, cfg.ranker_patience)
    # Arrays, not a tf.data shuffle buffer: Keras shuffles them as one index permutation per epoch and
    # gathers whole batches (a per-example shuffle buffer made the epochs ~7x slower).
    hist = model.fit(data, batch_size=batch, shuffle=True, epochs=epochs, verbose=0, callbacks=[keep_best])
    return _Member(ranker, keep_best, list(hist.history["loss"]), len(tr))


def fit_ranker(prep: Prepared, retrieval: Retrieval | None, cfg: TrainConfig, training_set) -> RankerFit:  # noqa: ANN001
    """Fit ``ranker_ensemble`` rankers on 90 % of the ranker users, choose the value weights and report
    AUCs on the other 10 %."""
    t = time.perf_counter()
    ex = _examples(prep, retrieval, cfg, training_set)
    log(
        f"ranker: {len(ex)} served-like examples, {ex.label.mean():.4f} positive, candidate recall "
        f"{ex.candidate_recall:.3f} ({time.perf_counter() - t:.1f} s)"
    )
    rng = np.random.default_rng(cfg.seed)
    groups = np.unique(ex.group)
    val_groups = rng.choice(groups, size=max(1, len(groups) // 10), replace=False)
    is_val = np.isin(ex.group, val_groups)
    tr, va = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    t = time.perf_counter()
    fits = [
        _fit_member(ex, _bag(ex, tr, cfg.ranker_max_examples, cfg.seed + m), va, cfg, cfg.seed + m)
        for m in range(cfg.ranker_ensemble)
    ]
    log(f"ranker: {len(fits)} members fit in {time.perf_counter() - t:.1f} s")
    ranker = fits[0].ranker if len(fits) == 1 else RankerEnsemble([f.ranker for f in fits])
    heads = _heads(ranker, ex.features[va])
    p, rating = np.zeros(len(ex)), np.zeros(len(ex))
    p[va], rating[va] = heads["p_interaction"], heads["rating"]
    metrics = {
        "auc_p_interaction": evaluation.auc(p[va], ex.label[va]),
        # What the previous ranker ordered by: the predicted rating of rated items.
        "auc_rating_head": evaluation.auc(rating[va], ex.label[va]),
        "candidate_recall": ex.candidate_recall,
        "n_examples": float(len(ex)),
        "n_examples_per_member": float(np.mean([f.n_examples for f in fits])),
        "n_validation_users": float(len(val_groups)),
        "epochs_run": float(np.mean([len(f.best.history) for f in fits])),
        "best_epoch": float(np.mean([f.best.best_epoch + 1 for f in fits])),
        "val_recall+ndcg@10_members": float(np.mean([f.best.best for f in fits])),
    }
    weights = cfg.value_weights
    if weights is None:  # chosen by the served metric on the validation users' candidate lists
        scores = {w: _served_quality(p + w * rating / 5.0, ex, va) for w in RATING_WEIGHT_GRID}
        best_w = max(RATING_WEIGHT_GRID, key=lambda w: (scores[w], -w))
        weights = {"p_interaction": 1.0, "rating": best_w}
        metrics.update({f"val_recall+ndcg@10_rating_weight_{w:g}": s for w, s in scores.items()})
    metrics["auc_value_score"] = evaluation.auc(
        evaluation.value_score({"p_interaction": p[va], "rating": rating[va]}, weights), ex.label[va]
    )
    log(f"  ranker: {', '.join(f'{k} {v:.4f}' for k, v in metrics.items())}; value weights {weights}")
    return RankerFit(ranker, weights, metrics, fits[0].losses)
