"""The one place where raw feature values become model input vectors.

Training (TensorFlow env) and serving (slim env) both call these functions, so the
transform cannot drift between them (training-serving skew). numpy only.

Real-time (pushed) features are not model inputs yet: they have no offline history, so a
model would train on zeros and serve live values (skew). Serving uses them directly (trending,
recent items) until the speed layer also lands them offline for point-in-time training sets.

Keys are Feast full feature names, ``"<view>__<feature>"`` (what
``get_historical_features(..., full_feature_names=True)`` returns as columns and
what serving's online fast path returns). A missing or null value counts as 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .features import ITEM_FEATURES, ITEM_STATS_VIEW, USER_FEATURES, USER_STATS_VIEW, feature_ref, full_name
from .tables import GENRES

_GENRE_INDEX = {g: i for i, g in enumerate(GENRES)}
# Full names of the features the vectors read, computed once (the functions run per item).
_USER = {name: full_name(USER_STATS_VIEW, name) for name in USER_FEATURES}
_ITEM = {name: full_name(ITEM_STATS_VIEW, name) for name in ITEM_FEATURES}


def _num(v: Any) -> float:
    if v is None:
        return 0.0
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(f) else f


def _log1p(v: Any) -> float:
    return math.log1p(max(_num(v), 0.0))


def genre_multi_hot(genres: Iterable[str] | None) -> np.ndarray:
    """One slot per GENRES name. Genres arrive canonical (dbt staging maps them, Spark asserts it),
    so no aliases are resolved here; a name outside the vocabulary still lands in "(other)" rather
    than failing a request."""
    out = np.zeros(len(GENRES), dtype=np.float32)
    for g in () if genres is None else genres:
        out[_GENRE_INDEX.get(g, _GENRE_INDEX["(other)"])] = 1.0
    return out


# The names of the vector's slots, in order (recorded in the bundle manifest).
USER_VECTOR_NAMES: list[str] = [
    f"{USER_STATS_VIEW}__log_n_interactions_7d",
    f"{USER_STATS_VIEW}__log_n_interactions_30d",
    f"{USER_STATS_VIEW}__log_n_interactions_total",
    f"{USER_STATS_VIEW}__rating_mean_scaled",
    f"{USER_STATS_VIEW}__rating_std",
    *[f"{USER_STATS_VIEW}__genre_affinity[{g}]" for g in GENRES],
]
ITEM_VECTOR_NAMES: list[str] = [
    f"{ITEM_STATS_VIEW}__log_n_interactions_7d",
    f"{ITEM_STATS_VIEW}__log_n_interactions_30d",
    f"{ITEM_STATS_VIEW}__log_n_interactions_total",
    f"{ITEM_STATS_VIEW}__rating_mean_scaled",
    f"{ITEM_STATS_VIEW}__bayes_rating_scaled",
    f"{ITEM_STATS_VIEW}__trending_score_clipped",
    f"{ITEM_STATS_VIEW}__year_scaled",
    *[f"{ITEM_STATS_VIEW}__genre[{g}]" for g in GENRES],
]

# The raw Feast features the vectors read (feature refs "<view>:<feature>").
USER_VECTOR_FEATURE_REFS = [
    feature_ref(USER_STATS_VIEW, "n_interactions_7d"),
    feature_ref(USER_STATS_VIEW, "n_interactions_30d"),
    feature_ref(USER_STATS_VIEW, "n_interactions_total"),
    feature_ref(USER_STATS_VIEW, "rating_mean"),
    feature_ref(USER_STATS_VIEW, "rating_std"),
    feature_ref(USER_STATS_VIEW, "genre_affinity"),
]
ITEM_VECTOR_FEATURE_REFS = [
    feature_ref(ITEM_STATS_VIEW, "n_interactions_7d"),
    feature_ref(ITEM_STATS_VIEW, "n_interactions_30d"),
    feature_ref(ITEM_STATS_VIEW, "n_interactions_total"),
    feature_ref(ITEM_STATS_VIEW, "rating_mean"),
    feature_ref(ITEM_STATS_VIEW, "bayes_rating"),
    feature_ref(ITEM_STATS_VIEW, "trending_score"),
    feature_ref(ITEM_STATS_VIEW, "year"),
    feature_ref(ITEM_STATS_VIEW, "genres"),
]


def user_vector(f: Mapping[str, Any]) -> np.ndarray:
    """User feature vector (float32, len(USER_VECTOR_NAMES)) from full-feature-name values."""
    # The finiteness check costs a fraction of nan_to_num (per request).
    affinity = genre_affinity_slots(f.get(_USER["genre_affinity"]))
    head = [
        _log1p(f.get(_USER["n_interactions_7d"])),
        _log1p(f.get(_USER["n_interactions_30d"])),
        _log1p(f.get(_USER["n_interactions_total"])),
        _num(f.get(_USER["rating_mean"])) / 5.0,
        _num(f.get(_USER["rating_std"])),
    ]
    return np.concatenate([np.asarray(head, np.float32), affinity])


def genre_affinity_slots(raw: Any) -> np.ndarray:
    """The genre part of ``user_vector`` from a raw ``genre_affinity`` value (zeros unless it has
    one finite-or-cleaned float per genre)."""
    if raw is None or len(raw) != len(GENRES):
        return np.zeros(len(GENRES), dtype=np.float32)
    affinity = np.asarray(raw, dtype=np.float32)
    return affinity if np.isfinite(affinity).all() else np.nan_to_num(affinity)


def user_matrix(columns: Mapping[str, Any], affinity: np.ndarray) -> np.ndarray:
    """``user_vector`` of many rows at once (float32 [N, len(USER_VECTOR_NAMES)]): ``columns`` maps
    the scalar features' full names to arrays (NaN = null; an absent name counts as 0) and
    ``affinity`` is the rows' ``genre_affinity_slots`` [N, len(GENRES)]."""
    n = len(affinity)

    def num(name: str) -> np.ndarray:
        v = columns.get(_USER[name])
        if v is None:
            return np.zeros(n)
        v = np.asarray(v, dtype=np.float64)
        return np.where(np.isnan(v), 0.0, v)

    head = np.stack(
        [
            np.log1p(np.maximum(num("n_interactions_7d"), 0.0)),
            np.log1p(np.maximum(num("n_interactions_30d"), 0.0)),
            np.log1p(np.maximum(num("n_interactions_total"), 0.0)),
            num("rating_mean") / 5.0,
            num("rating_std"),
        ],
        axis=1,
    ).astype(np.float32)
    return np.concatenate([head, np.asarray(affinity, np.float32).reshape(n, len(GENRES))], axis=1)


def item_vector(f: Mapping[str, Any]) -> np.ndarray:
    """Item feature vector (float32, len(ITEM_VECTOR_NAMES)) from full-feature-name values."""
    year = _num(f.get(_ITEM["year"]))
    head = [
        _log1p(f.get(_ITEM["n_interactions_7d"])),
        _log1p(f.get(_ITEM["n_interactions_30d"])),
        _log1p(f.get(_ITEM["n_interactions_total"])),
        _num(f.get(_ITEM["rating_mean"])) / 5.0,
        _num(f.get(_ITEM["bayes_rating"])) / 5.0,
        min(max(_num(f.get(_ITEM["trending_score"])), 0.0), 10.0) / 10.0,
        (year - 1900.0) / 100.0 if year > 0 else 0.0,
    ]
    return np.concatenate([np.asarray(head, np.float32), genre_multi_hot(f.get(_ITEM["genres"]))])
