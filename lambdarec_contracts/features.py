"""Entities, feature views, feature names and feature services (Feast names).

A feature is named two ways, both Feast's: the *reference* ``"<view>:<feature>"`` (what
``get_online_features`` / ``get_historical_features`` take) and the *full name*
``"<view>__<feature>"`` (what they return with ``full_feature_names=True``: training-set columns,
serving's feature dicts). Build and convert them only with the helpers below.
"""

USER_ENTITY = "user"
ITEM_ENTITY = "item"
USER_JOIN_KEY = "user_id"
ITEM_JOIN_KEY = "item_id"

FEAST_PROJECT = "lambdarec"

# Feature views: <entity>_<grain>
USER_STATS_VIEW = "user_stats"  # from the Spark user_features table
ITEM_STATS_VIEW = "item_stats"  # from the Spark item_features table
ITEM_TEXT_VIEW = "item_text_embedding"  # from the embeddings job
USER_REALTIME_VIEW = "user_realtime"  # pushed by the speed layer
ITEM_REALTIME_VIEW = "item_realtime"  # pushed by the speed layer
USER_REALTIME_PUSH_SOURCE = "user_realtime_push"
ITEM_REALTIME_PUSH_SOURCE = "item_realtime_push"

# Columns of the Spark user_features table (besides user_id, event_timestamp)
USER_FEATURES = {
    "n_interactions_7d": "int64",
    "n_interactions_30d": "int64",
    "n_interactions_total": "int64",
    "rating_mean": "float64",
    "rating_std": "float64",
    "genre_affinity": "array<float32>",  # len(GENRES), share of positive interactions per genre
    "recent_items": "array<string>",  # most recent first, at most RECENT_HISTORY_LEN
    "recent_positive_items": "array<string>",  # most recent positive interactions first
    "last_active_ts": "int64",  # unix seconds
}
# Columns of the Spark item_features table (besides item_id, event_timestamp)
ITEM_FEATURES = {
    "n_interactions_7d": "int64",
    "n_interactions_30d": "int64",
    "n_interactions_total": "int64",
    "rating_mean": "float64",
    "bayes_rating": "float64",
    "trending_score": "float64",
    "genres": "array<string>",
    "year": "int64",  # 0 when unknown
}
ITEM_TEXT_FEATURES = {
    "embedding": "array<float32>",
    "embedding_model": "string",
    "content_hash": "string",
}
USER_REALTIME_FEATURES = {
    "rt_recent_items": "array<string>",  # most recent first
    "rt_n_events_1h": "int64",
}
ITEM_REALTIME_FEATURES = {
    "rt_n_events_1h": "int64",
}

RECENT_HISTORY_LEN = 20
COOC_NEIGHBOURS = 20

# Feature services, one per model version.
RETRIEVAL_SERVICE = "retrieval_v1"
RANKER_SERVICE = "ranker_v1"


REF_SEPARATOR = ":"
FULL_NAME_SEPARATOR = "__"
_VIEW_FEATURES = {
    USER_STATS_VIEW: USER_FEATURES,
    ITEM_STATS_VIEW: ITEM_FEATURES,
    ITEM_TEXT_VIEW: ITEM_TEXT_FEATURES,
    USER_REALTIME_VIEW: USER_REALTIME_FEATURES,
    ITEM_REALTIME_VIEW: ITEM_REALTIME_FEATURES,
}


def _checked(view: str, feature: str) -> tuple[str, str]:
    if feature not in _VIEW_FEATURES.get(view, {}):
        raise KeyError(f"{view!r} has no feature {feature!r} in the contracts")
    return view, feature


def feature_ref(view: str, feature: str) -> str:
    """``"<view>:<feature>"``, for a feature the contracts define (KeyError otherwise)."""
    return REF_SEPARATOR.join(_checked(view, feature))


def full_name(view: str, feature: str) -> str:
    """``"<view>__<feature>"``, for a feature the contracts define (KeyError otherwise)."""
    return FULL_NAME_SEPARATOR.join(_checked(view, feature))


def split_ref(ref: str) -> tuple[str, str]:
    """``"<view>:<feature>"`` -> (view, feature); ValueError if it is not a reference."""
    view, sep, feature = ref.partition(REF_SEPARATOR)
    if not sep or not view or not feature:
        raise ValueError(f"not a feature reference (<view>:<feature>): {ref!r}")
    return view, feature


def ref_to_full_name(ref: str) -> str:
    """``"<view>:<feature>"`` -> ``"<view>__<feature>"``."""
    return FULL_NAME_SEPARATOR.join(split_ref(ref))


# Features read by name outside the model vectors (serving's user state, training's history).
USER_RECENT_ITEMS = feature_ref(USER_STATS_VIEW, "recent_items")
USER_RECENT_POSITIVE_ITEMS = feature_ref(USER_STATS_VIEW, "recent_positive_items")
USER_GENRE_AFFINITY = feature_ref(USER_STATS_VIEW, "genre_affinity")
USER_RT_RECENT_ITEMS = feature_ref(USER_REALTIME_VIEW, "rt_recent_items")
ITEM_TEXT_EMBEDDING = feature_ref(ITEM_TEXT_VIEW, "embedding")
