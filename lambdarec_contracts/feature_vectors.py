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
    affinity = np.zeros(len(GENRES), dtype=np.float32)
    raw = f.get(_USER["genre_affinity"])
    if raw is not None and len(raw) == len(GENRES):
        affinity = np.asarray(raw, dtype=np.float32)
        if not np.isfinite(affinity).all():  # the check costs a fraction of nan_to_num (per request)
            affinity = np.nan_to_num(affinity)
    head = [
        _log1p(f.get(_USER["n_interactions_7d"])),
        _log1p(f.get(_USER["n_interactions_30d"])),
        _log1p(f.get(_USER["n_interactions_total"])),
        _num(f.get(_USER["rating_mean"])) / 5.0,
        _num(f.get(_USER["rating_std"])),
    ]
    return np.concatenate([np.asarray(head, np.float32), affinity])


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
