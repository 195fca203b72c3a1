"""Served-like ranker examples: what the generators would have offered at a cut-off, labelled by what came next.

For every user, the history before the cut-off goes through the same generators serving runs
(item_cf over the EASE matrix, two-tower, popular), with the user's history filtered out as
serving filters it; each candidate becomes one example whose inputs are
``lambdarec_contracts.ranker_features.ranker_matrix`` (exactly what serving's score stage
builds) and whose label says whether the user interacted with it after the cut-off.
numpy (and pandas for the id columns of a log); two-tower embeddings are passed in as arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lambdarec_contracts.item_activity import ITEM_ACTIVITY_WINDOWS, ItemActivity
from lambdarec_contracts.item_cf import SparseNeighbours
from lambdarec_contracts.ranker_features import N_RANKER_FEATURES, genre_affinity, genre_share, ranker_matrix

from . import item_cf

if TYPE_CHECKING:
    from .config import TrainConfig
    from .prepare import Prepared


@dataclass(frozen=True)
class CandidateModels:
    """What the generators know at one cut-off (all arrays indexed by item-vocab position)."""

    item_cf: SparseNeighbours  # EASE, pruned as the bundle stores it
    item_knn: SparseNeighbours  # cosine item-kNN, pruned
    popularity: np.ndarray  # float64 [n_items], interactions per item
    popularity_percentile: np.ndarray  # float32 [n_items], 1 = most popular
    genres: np.ndarray | None = None  # float32 [n_items, G] multi-hot (None: no genre input)


def popularity_percentile(pop: np.ndarray) -> np.ndarray:
    """Rank-based percentile in [0, 1] (ties share the lower rank; OOV row 0 stays 0)."""
    order = np.argsort(pop[1:], kind="stable")
    pct = np.zeros(len(pop), dtype=np.float32)
    pct[1:][order] = np.arange(1, len(order) + 1, dtype=np.float32) / max(len(order), 1)
    return pct


# Called with ("item_knn" | "ease", the dense local matrix, local -> full item index) while the
# matrix exists; the matrix is only valid during the call (its buffer is reused afterwards).
DenseUse = Callable[[str, np.ndarray, np.ndarray], None]


def fit_candidate_models(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    n_users: int,
    n_items: int,
    lam: float,
    keep: int,
    max_cf_items: int = item_cf.DENSE_MAX_ITEMS,
    dense: DenseUse | None = None,
) -> CandidateModels:
    """EASE and item-kNN (pruned to ``keep`` neighbours per item) plus popularity from interactions.

    The collaborative matrices are dense over at most ``max_cf_items`` items (the most popular);
    the rarer ones keep popularity and the two-tower model. Both live in one n_items² float64
    buffer, one after the other (cosine, then G restored, then EASE); ``dense`` sees each while
    it exists (the baselines score the evaluation users with them).
    """
    pop = np.bincount(item_idx, minlength=n_items).astype(np.float64)
    pop[0] = 0.0
    cf_items = np.flatnonzero(pop > 0)
    if len(cf_items) > max_cf_items:
        cf_items = np.sort(cf_items[np.argsort(-pop[cf_items], kind="stable")[:max_cf_items]])
    local = np.zeros(n_items, dtype=np.int64)  # full index -> 1-based CF index (0 = not in CF)
    local[cf_items] = np.arange(1, len(cf_items) + 1)
    sel = local[item_idx] > 0
    g = item_cf.gram(user_idx[sel], local[item_idx[sel]], n_users, len(cf_items) + 1)
    del sel
    to_full = np.concatenate([[0], cf_items])
    norms, diag = item_cf.cosine_in_place(g)
    knn = item_cf.widen(item_cf.prune(g, keep, "item_knn"), to_full, n_items)
    if dense is not None:
        dense("item_knn", g, to_full)
    item_cf.restore_gram(g, norms, diag)
    b = item_cf.ease(g, lam, overwrite_g=True)  # B in g's buffer
    ease = item_cf.widen(item_cf.prune(b, keep, "ease"), to_full, n_items)
    if dense is not None:
        dense("ease", b, to_full)
    del g, b
    return CandidateModels(
        item_cf=ease,
        item_knn=knn,
        popularity=pop,
        popularity_percentile=popularity_percentile(pop),
    )


def fit_generators(
    prep: Prepared, interactions: pd.DataFrame, cfg: TrainConfig, dense: DenseUse | None = None
) -> CandidateModels:
    """EASE, item-kNN and popularity over ``interactions`` (not-interested events excluded)."""
    # Only the two id columns of the kept rows (a filtered copy of the whole log stayed alive
    # through the dense fits: ~0.5 GB at 10M interactions).
    rows = (interactions["event_type"] != "not_interested").to_numpy()
    # Any one index per user will do: the Gram matrix sums over users, whatever their order. The
    # id columns stay pandas arrays (``to_numpy`` made a Python string per row: ~1 GB at 10M).
    u_idx, users = pd.factorize(interactions["user_id"].array[rows])
    u_idx = u_idx.astype(np.int64)
    i_idx = prep.item_vocab.lookup(interactions["item_id"].array[rows])
    del rows
    keep = i_idx > 0
    models = fit_candidate_models(
        u_idx[keep],
        i_idx[keep],
        len(users),
        len(prep.item_vocab),
        cfg.ease_lambda,
        cfg.item_cf_keep,
        cfg.max_cf_items,
        dense,
    )
    return dataclasses.replace(models, genres=prep.content.genres)


def _top(scores: np.ndarray, allowed: np.ndarray, n: int) -> np.ndarray:
    s = np.where(allowed, scores, -np.inf)
    n = min(n, int(allowed.sum()))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-s, n - 1)[:n]
    return top[np.lexsort((top, -s[top]))]  # best first, lower index on ties


@dataclass
class UserCandidates:
    item_idx: np.ndarray  # int64 [C]
    features: np.ndarray  # float32 [C, N_RANKER_FEATURES]


def user_candidates(
    models: CandidateModels,
    history: np.ndarray,
    query: np.ndarray | None,
    item_emb: np.ndarray | None,
    n_per_generator: int,
    activity: ItemActivity | None = None,
    request_day: int = 0,
) -> UserCandidates:
    """One user's served-like candidates (history filtered out) and their ranker inputs, with the
    candidates' recent activity as a request on ``request_day`` would have read it."""
    n_items = len(models.popularity)
    allowed = np.ones(n_items, dtype=bool)
    allowed[0] = False
    allowed[history[(history > 0) & (history < n_items)]] = False
    cf = models.item_cf.scores(history)
    knn = models.item_knn.scores(history)
    tt = (item_emb @ query).astype(np.float32) if query is not None and item_emb is not None else None
    lists = {"item_cf": _top(cf, allowed & (cf > 0), n_per_generator)}
    if tt is not None:
        lists["two_tower"] = _top(tt, allowed, n_per_generator)
    lists["popular"] = _top(models.popularity, allowed, n_per_generator)
    cands = np.unique(np.concatenate(list(lists.values())))
    ranks = {}
    for name, lst in lists.items():
        r = np.full(n_items, np.nan)
        r[lst] = np.arange(len(lst))
        ranks[name] = r[cands]
    feats = ranker_matrix(
        item_cf_score=cf[cands],
        user_best_item_cf=float(cf[lists["item_cf"][0]]) if len(lists["item_cf"]) else 0.0,
        item_knn_score=knn[cands],
        two_tower_score=tt[cands] if tt is not None else np.zeros(len(cands), np.float32),
        popularity=models.popularity[cands],
        popularity_percentile=models.popularity_percentile[cands],
        history_len=int(len(np.unique(history))),
        genre_fit=_genre_fit(models.genres, history, cands),
        recent_activity=activity.log_windows(cands, request_day)
        if activity is not None
        else np.zeros((len(cands), len(ITEM_ACTIVITY_WINDOWS)), np.float32),
        generator_ranks=ranks,
    )
    return UserCandidates(cands.astype(np.int64), feats)


def _genre_fit(genres: np.ndarray | None, history: np.ndarray, cands: np.ndarray) -> np.ndarray:
    if genres is None:
        return np.zeros(len(cands), np.float32)
    hist = np.unique(history[(history > 0) & (history < len(genres))])
    return genre_affinity(genre_share(genres[hist]), genres[cands])


@dataclass
class Examples:
    features: np.ndarray  # float32 [N, F]
    label: np.ndarray  # float32 [N, 1]
    rating: np.ndarray  # float32 [N, 1] (0 where unknown)
    has_rating: np.ndarray  # float32 [N, 1]
    group: np.ndarray  # int64 [N], the user's row
    candidate_recall: float  # share of label items that were among the candidates

    def __len__(self) -> int:
        return len(self.label)


def served_like_examples(
    models: CandidateModels,
    histories: Sequence[np.ndarray],
    targets: Sequence[Mapping[int, float]],
    queries: np.ndarray | None,
    item_emb: np.ndarray | None,
    n_per_generator: int,
    activity: ItemActivity | None = None,
    request_days: Sequence[int] | None = None,
) -> Examples:
    """Examples for every user with targets: label 1 for candidates they interacted with next.

    ``targets[u]`` maps the item indices the user interacted with after the cut-off to the
    rating given (NaN when the interaction carried no rating).
    """
    feats, labels, ratings, groups = [], [], [], []
    hit = total = 0
    for u, (hist, tgt) in enumerate(zip(histories, targets, strict=True)):
        if not tgt:
            continue
        q = None if queries is None else queries[u]
        day = 0 if request_days is None else int(request_days[u])
        uc = user_candidates(models, hist, q, item_emb, n_per_generator, activity, day)
        keys = np.fromiter(tgt.keys(), dtype=np.int64, count=len(tgt))
        order = np.argsort(keys)
        at = np.minimum(np.searchsorted(keys[order], uc.item_idx), len(keys) - 1)
        lab = keys[order][at] == uc.item_idx
        r = np.where(lab, np.fromiter(tgt.values(), dtype=np.float64, count=len(tgt))[order][at], np.nan)
        hit += int(lab.sum())
        total += len(tgt)
        feats.append(uc.features)
        labels.append(lab.astype(np.float32))
        ratings.append(r)
        groups.append(np.full(len(uc.item_idx), u, dtype=np.int64))
    if not feats:
        raise ValueError("no ranker examples: no user has interactions after the ranker cut-off")
    rating = np.concatenate(ratings)
    return Examples(
        features=np.concatenate(feats) if feats else np.zeros((0, N_RANKER_FEATURES), np.float32),
        label=np.concatenate(labels)[:, None],
        rating=np.nan_to_num(rating, nan=0.0).astype(np.float32)[:, None],
        has_rating=(~np.isnan(rating)).astype(np.float32)[:, None],
        group=np.concatenate(groups),
        candidate_recall=hit / max(total, 1),
    )
