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
    held_idx = held_df["item_id"].map(prep.item_vocab.index).fillna(-1).to_numpy(dtype=np.int64)
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


def _history_matrix(ev: EvalUsers, rows: np.ndarray, n_items: int) -> np.ndarray:
    x = np.zeros((len(rows), n_items), dtype=np.float32)
    for n, u in enumerate(rows):
        h = ev.exclude[u]
        x[n, h[h > 0]] = 1.0
    return x


def baseline_scorers(
    prep: Prepared, ev: EvalUsers, cfg: TrainConfig, queries: np.ndarray | None, item_emb: np.ndarray | None
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Full-catalogue score functions (rows of ``ev``) of every baseline; dense CF up to ``max_cf_items``."""
    n_items = len(prep.item_vocab)
    train = prep.split.train
    keep = (train["event_type"] != "not_interested").to_numpy()
    i_idx = prep.item_vocab.lookup(train["item_id"].to_numpy()[keep])
    # Users in order of appearance (G does not depend on the users' order); no filtered copy of
    # the log stays alive through the dense fits.
    u_idx = pd.factorize(train["user_id"].to_numpy()[keep])[0].astype(np.int64)
    pop = evaluation.popularity_scores(i_idx, n_items)
    scorers: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "most_popular": lambda rows: np.broadcast_to(pop, (len(rows), n_items)),
    }
    if n_items <= cfg.max_cf_items + 1:
        g = item_cf.gram(u_idx[i_idx > 0], i_idx[i_idx > 0], int(u_idx.max()) + 1, n_items)
        knn = item_cf.cosine(g)
        ease = item_cf.ease(g, cfg.ease_lambda, overwrite_g=True)  # g is not read again
        # A tiny popularity term orders items with equal (often zero) similarity.
        scorers["item_knn"] = lambda rows: _history_matrix(ev, rows, n_items) @ knn + 1e-9 * pop
        scorers["ease"] = lambda rows: _history_matrix(ev, rows, n_items) @ ease + 1e-9 * pop
    if queries is not None and item_emb is not None:
        scorers["two_tower"] = lambda rows: queries[rows] @ item_emb.T
    return scorers


def evaluate_baselines(
    prep: Prepared, ev: EvalUsers, cfg: TrainConfig, queries: np.ndarray | None, item_emb: np.ndarray | None
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Metrics and recall curves of every baseline on the evaluation users."""
    scorers = baseline_scorers(prep, ev, cfg, queries, item_emb)
    return evaluation.compare_retrieval(
        scorers, ev.exclude, ev.heldout, ev.item_user_counts, ev.n_train_users
    )
