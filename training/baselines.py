"""Step 4a: the baselines of every report — most-popular, item-kNN, EASE — and two-tower alone.

Each ranks the full catalogue for the evaluation users with their training history excluded,
on exactly the split the served blend is judged on (``training/served_eval.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import evaluation, item_cf
from .config import TrainConfig
from .prepare import Prepared
from .ranker_data import CandidateModels, fit_generators


@dataclass
class EvalUsers:
    """The evaluation users with their training histories and held-out items as vocab indices."""

    user_ids: list[str]
    exclude: list[np.ndarray]  # training history (never recommended)
    heldout: list[np.ndarray]  # ground truth (-1 = outside the vocabulary, never a hit)
    item_user_counts: np.ndarray  # users per item in training (novelty)
    n_train_users: int


def eval_users(prep: Prepared, cfg: TrainConfig) -> EvalUsers:
    """A seeded sample of at most ``max_eval_users`` users with held-out interactions."""
    users = prep.split.eval_users
    if len(users) > cfg.max_eval_users:
        rng = np.random.default_rng(cfg.seed)
        users = sorted(rng.choice(users, size=cfg.max_eval_users, replace=False).tolist())
    exclude = prep.histories(prep.split.train, users)
    held_df = prep.split.heldout
    held_idx = prep.item_vocab.lookup(held_df["item_id"])
    held_idx[held_idx == 0] = -1  # outside the vocabulary (0 is only ever an unknown id's index)
    rows = held_df.groupby("user_id").indices  # each user's row positions, in log order
    heldout = [held_idx[rows[u]] for u in users]
    train = prep.split.train[prep.split.train["event_type"] != "not_interested"]
    # Distinct (user, item) pairs as one int64 key each (np.unique over rows of a 2-column array
    # sorts structured values, several times slower).
    n_items = len(prep.item_vocab)
    user = pd.factorize(train["user_id"])[0].astype(np.int64)
    pairs = np.unique(user * n_items + prep.item_vocab.lookup(train["item_id"]))
    counts = np.bincount(pairs % n_items, minlength=n_items)
    return EvalUsers(users, exclude, heldout, counts, int(train["user_id"].nunique()))


def _history_matrix(ev: EvalUsers, rows: np.ndarray, local: np.ndarray, n_local: int) -> np.ndarray:
    """Binary [rows, n_local] of the users' training histories over the CF items (``local``: full
    index -> local index, 0 = not in the dense matrices)."""
    x = np.zeros((len(rows), n_local), dtype=np.float32)
    for n, u in enumerate(rows):
        h = local[ev.exclude[u]]
        x[n, h[h > 0]] = 1.0
    return x


def evaluate_baselines(
    prep: Prepared, ev: EvalUsers, cfg: TrainConfig, queries: np.ndarray | None, item_emb: np.ndarray | None
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray], CandidateModels]:
    """Metrics and recall curves of every baseline on the evaluation users, and the generators
    fit on the same training split (one fit: the dense item-kNN and EASE matrices the baselines
    rank with exist one after the other in a single buffer, and are pruned into the generators).

    Item-kNN and EASE cover the ``max_cf_items`` most popular items (all of them on MovieLens-sized
    catalogues); the rest get only the popularity tie-break.
    """
    n_items = len(prep.item_vocab)
    train = prep.split.train
    i_idx = prep.item_vocab.lookup(
        train["item_id"].array[(train["event_type"] != "not_interested").to_numpy()]
    )
    pop = evaluation.popularity_scores(i_idx, n_items)
    del i_idx
    results: dict[str, tuple[dict[str, float], np.ndarray]] = {}

    def judge(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        metrics, curves = evaluation.compare_retrieval(
            {name: fn}, ev.exclude, ev.heldout, ev.item_user_counts, ev.n_train_users
        )
        results[name] = metrics[name], curves[name]

    def dense(name: str, w: np.ndarray, to_full: np.ndarray) -> None:
        local = np.zeros(n_items, dtype=np.int64)
        local[to_full[1:]] = np.arange(1, len(to_full))

        def score(rows: np.ndarray) -> np.ndarray:
            # A tiny popularity term orders items with equal (often zero) similarity (float64:
            # it must still separate equal non-zero scores).
            s = np.tile(1e-9 * pop, (len(rows), 1))
            s[:, to_full[1:]] += item_cf.times(_history_matrix(ev, rows, local, len(to_full)), w)[:, 1:]
            return s

        judge(name, score)

    judge("most_popular", lambda rows: np.broadcast_to(pop, (len(rows), n_items)))
    generators = fit_generators(prep, train, cfg, dense)
    if queries is not None and item_emb is not None:
        judge("two_tower", lambda rows: queries[rows] @ item_emb.T)
    order = [n for n in ("most_popular", "item_knn", "ease", "two_tower") if n in results]
    return {n: results[n][0] for n in order}, {n: results[n][1] for n in order}, generators
