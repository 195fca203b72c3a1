"""Offline evaluation: top-k ranking metrics, ranker metrics and the baselines. numpy only.

No TensorFlow here on purpose: publishing (the quality gate) and serving-side tooling reuse
these functions with onnxruntime outputs, so every model is measured by the same code.

Conventions (all item indices are positions in a bundle's ``item_vocab``; 0 is OOV and never
recommended; a held-out index of -1 means "not in this model's catalogue", which can never be hit):

- recall@k     = |top-k ∩ held-out| / |held-out|, averaged over users;
- ndcg@k       = DCG@k / IDCG@k with binary gains, DCG = sum over hits of 1/log2(rank + 1)
                 (rank starting at 1), IDCG over min(k, |held-out|) hits;
- hit_rate@k   = share of users with at least one hit in the top k;
- coverage@k   = distinct items recommended in anybody's top k / catalogue size (excl. OOV);
- novelty@k    = mean self-information -log2(p(i)) of the recommended items (every slot of every
                 user's top k), p(i) = max(users who interacted with i in training, 1) / n_train_users.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_KS = (10, 50, 100)


def top_k_from_scores(scores: np.ndarray, exclude: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Indices of the k best items per row, best first; OOV (column 0) and ``exclude[u]`` never appear.

    Ties break towards the lower index so results are deterministic.
    """
    s = np.array(scores, dtype=np.float64, copy=True)
    s[:, 0] = -np.inf
    for u, ex in enumerate(exclude):
        if len(ex):
            s[u, ex] = -np.inf
    k = min(k, s.shape[1] - 1)
    if k <= 0 or not len(s):
        return np.zeros((len(s), max(k, 0)), dtype=np.int64)
    # What a stable sort of the negated scores gives (best first, the lower index wins ties), without
    # sorting whole rows: every item scoring at least the row's k-th best value, ordered by
    # (row, -score, index), of which each row keeps its first k.
    kth = -np.partition(-s, k - 1, axis=1)[:, k - 1]
    rows, cols = np.nonzero(s >= kth[:, None])
    order = np.lexsort((cols, -s[rows, cols], rows))
    starts = np.searchsorted(rows, np.arange(len(s)))  # ``rows`` is sorted: each row's first entry
    return cols[order][starts[:, None] + np.arange(k)].astype(np.int64)


def rank_in_chunks(
    score_fn: Callable[[np.ndarray], np.ndarray],
    n_users: int,
    exclude: Sequence[np.ndarray],
    k: int,
    chunk: int = 512,
) -> np.ndarray:
    """top_k_from_scores over user chunks: ``score_fn(user_rows)`` returns [len(rows), n_items]."""
    parts = []
    for lo in range(0, n_users, chunk):
        rows = np.arange(lo, min(lo + chunk, n_users))
        parts.append(top_k_from_scores(score_fn(rows), [exclude[u] for u in rows], k))
    return np.concatenate(parts) if parts else np.zeros((0, k), dtype=np.int64)


def hits_matrix(top_k: np.ndarray, heldout: Sequence[np.ndarray]) -> np.ndarray:
    """Boolean [n_users, k]: whether the item at each rank is one of the user's held-out items."""
    return np.stack([np.isin(top_k[u], heldout[u][heldout[u] >= 0]) for u in range(len(heldout))])


def recall_curve(top_k: np.ndarray, heldout: Sequence[np.ndarray]) -> np.ndarray:
    """Recall@k for k = 1..top_k.shape[1] (averaged over users)."""
    hits = hits_matrix(top_k, heldout)
    sizes = np.array([len(h) for h in heldout], dtype=np.float64)
    return (np.cumsum(hits, axis=1) / sizes[:, None]).mean(axis=0)


def ranking_metrics(
    top_k: np.ndarray,
    heldout: Sequence[np.ndarray],
    n_catalogue: int,
    item_user_counts: np.ndarray,
    n_train_users: int,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """Recall@k, NDCG@10, hit rate@10, coverage@10 and novelty@10 of ranked lists (see module doc)."""
    if len(heldout) == 0:
        raise ValueError("no evaluation users: the evaluation window has no positive interactions")
    hits = hits_matrix(top_k, heldout)
    sizes = np.array([len(h) for h in heldout], dtype=np.float64)
    out: dict[str, float] = {}
    for k in ks:
        out[f"recall@{k}"] = float((hits[:, :k].sum(axis=1) / sizes).mean())
    k10 = min(10, top_k.shape[1])
    discounts = 1.0 / np.log2(np.arange(2, k10 + 2))
    dcg = (hits[:, :k10] * discounts).sum(axis=1)
    idcg = np.array([discounts[: int(min(k10, s))].sum() for s in sizes])
    out["ndcg@10"] = float((dcg / idcg).mean())
    out["hit_rate@10"] = float(hits[:, :k10].any(axis=1).mean())
    out["coverage@10"] = float(len(np.unique(top_k[:, :k10])) / n_catalogue)
    p = np.maximum(item_user_counts[top_k[:, :k10]], 1) / float(n_train_users)
    out["novelty@10"] = float((-np.log2(p)).mean())
    out["n_eval_users"] = float(len(heldout))
    return out


def compare_retrieval(
    scorers: dict[str, Callable[[np.ndarray], np.ndarray]],
    exclude: Sequence[np.ndarray],
    heldout: Sequence[np.ndarray],
    item_user_counts: np.ndarray,
    n_train_users: int,
    k: int = 100,
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Rank the full catalogue with every scorer on the same split: metrics and recall@k curves."""
    metrics, curves = {}, {}
    n_catalogue = len(item_user_counts) - 1
    for name, fn in scorers.items():
        top = rank_in_chunks(fn, len(heldout), exclude, k)
        metrics[name] = ranking_metrics(top, heldout, n_catalogue, item_user_counts, n_train_users)
        curves[name] = recall_curve(top, heldout)
    return metrics, curves


def value_score(heads: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The serving score: sum of weighted heads, the rating head (stars) divided by 5."""
    return sum(
        w * (np.asarray(heads[h]).ravel() / (5.0 if h == "rating" else 1.0)) for h, w in weights.items()
    )


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error."""
    pred, target = np.asarray(pred, np.float64).ravel(), np.asarray(target, np.float64).ravel()
    return float(np.sqrt(np.mean((pred - target) ** 2)))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC via the Mann-Whitney U statistic (ties count one half)."""
    scores, labels = np.asarray(scores, np.float64).ravel(), np.asarray(labels).ravel().astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties.
    _, start_idx, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = start_idx + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


# --- baselines ---------------------------------------------------------------------------------


def popularity_scores(train_item_idx: np.ndarray, n_items: int) -> np.ndarray:
    """Interaction count per item index (the most-popular baseline's score)."""
    return np.bincount(train_item_idx, minlength=n_items).astype(np.float64)
