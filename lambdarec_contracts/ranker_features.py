"""The ranker's input vector for one (user, candidate) pair — the one definition training and serving share.

The ranker orders what the generators proposed, so its inputs describe the candidate *as served*:
how each generator scored and ranked it, how popular it is (all time, and in the last 7 / 30 days
as the batch layer's item_stats snapshot counted them when the request was made), how well it
fits the genres of the user's history, and how much history the user has. The speed layer's
counters (trending) are not inputs: they are empty where the batch data was loaded without live
events, which would make the served vector differ from the trained one. Training builds the
same vectors for served-like candidates at a past cut-off (``training/ranker_data.py``);
serving's score stage builds them per request. numpy only.

Every input is a per-candidate array of the same length; a generator that did not propose a
candidate has rank NaN there (its reciprocal-rank slot is 0).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .feature_vectors import ITEM_VECTOR_NAMES
from .features import ITEM_STATS_VIEW
from .item_activity import ITEM_ACTIVITY_WINDOWS

# Where serving finds the recent-activity inputs: columns of the item feature vector (item_stats).
ITEM_ACTIVITY_COLUMNS: list[int] = [
    ITEM_VECTOR_NAMES.index(f"{ITEM_STATS_VIEW}__log_n_interactions_{d}d") for d in ITEM_ACTIVITY_WINDOWS
]

# Generators whose rank is a ranker input, in vector order. Others may serve candidates; their
# ranks are simply not inputs (a variant's generator list cannot change the vector's shape).
RANKED_GENERATORS: tuple[str, ...] = ("item_cf", "two_tower")

RANKER_FEATURE_NAMES: list[str] = [
    "item_cf_score",
    "item_cf_score_share",  # score / the user's best item_cf score (scale-free across users)
    "item_knn_score",  # cosine item-kNN over the same history (a second collaborative view)
    "two_tower_score",
    "log_popularity",  # interactions in the bundle's training data
    "popularity_percentile",
    "log_history_len",
    "genre_affinity",  # how much of the user's history shares the candidate's genres
    # The candidate's events in the last 7 / 30 days as item_stats held them at the request
    # (log1p; serving: the in-memory Feast item features; training: ItemActivity at the cut-off)
    *[f"log_n_interactions_{d}d" for d in ITEM_ACTIVITY_WINDOWS],
    *[f"{g}_rrank" for g in RANKED_GENERATORS],  # 1 / (1 + rank), 0 when not proposed
]
N_RANKER_FEATURES = len(RANKER_FEATURE_NAMES)

# Heads of the ranker: "p_interaction" orders the list, "rating" (stars) is secondary.
RANKER_HEADS: tuple[str, ...] = ("p_interaction", "rating")


def reciprocal_rank(ranks: np.ndarray | None, n: int) -> np.ndarray:
    if ranks is None:
        return np.zeros(n, dtype=np.float32)
    r = np.asarray(ranks, dtype=np.float64)
    return np.where(np.isnan(r), 0.0, 1.0 / (1.0 + np.nan_to_num(r, nan=0.0))).astype(np.float32)


def genre_share(history_genres: np.ndarray) -> np.ndarray:
    """The user's genre profile: share of the history items in each genre ([H, G] -> [G])."""
    h = np.asarray(history_genres, dtype=np.float32)
    return h.mean(axis=0) if len(h) else np.zeros(h.shape[1] if h.ndim == 2 else 0, np.float32)


def genre_affinity(profile: np.ndarray, candidate_genres: np.ndarray) -> np.ndarray:
    """Mean of the profile over each candidate's genres (0 for a candidate without genres)."""
    g = np.asarray(candidate_genres, dtype=np.float32)
    if not len(g) or not len(profile):
        return np.zeros(len(g), np.float32)
    return (g @ profile) / np.maximum(g.sum(axis=1), 1.0)


def ranker_matrix(
    *,
    item_cf_score: np.ndarray,
    user_best_item_cf: float,
    item_knn_score: np.ndarray,
    two_tower_score: np.ndarray,
    popularity: np.ndarray,
    popularity_percentile: np.ndarray,
    history_len: int,
    genre_fit: np.ndarray,
    recent_activity: np.ndarray,
    generator_ranks: Mapping[str, np.ndarray],
) -> np.ndarray:
    """float32 [n_candidates, N_RANKER_FEATURES] in RANKER_FEATURE_NAMES order."""
    n = len(item_cf_score)
    cf = np.asarray(item_cf_score, dtype=np.float32)
    share = cf / np.float32(user_best_item_cf) if user_best_item_cf > 0 else np.zeros(n, np.float32)
    cols = [
        cf,
        share,
        np.asarray(item_knn_score, dtype=np.float32),
        np.asarray(two_tower_score, dtype=np.float32),
        np.log1p(np.maximum(np.asarray(popularity, dtype=np.float32), 0.0)),
        np.asarray(popularity_percentile, dtype=np.float32),
        np.full(n, np.log1p(max(history_len, 0)), dtype=np.float32),
        np.asarray(genre_fit, dtype=np.float32),
        *np.asarray(recent_activity, dtype=np.float32).reshape(n, len(ITEM_ACTIVITY_WINDOWS)).T,
        *[reciprocal_rank(generator_ranks.get(g), n) for g in RANKED_GENERATORS],
    ]
    return np.stack(cols, axis=1).astype(np.float32) if n else np.zeros((0, N_RANKER_FEATURES), np.float32)
