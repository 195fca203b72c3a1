"""Feature views, one per source, named ``<entity>_<grain>`` as in the contracts.

Schemas are generated from the column dictionaries in ``lambdarec_contracts.features`` so a
feature cannot be renamed here without the contract (and Spark, serving, training) changing too.
"""

from datetime import timedelta

from data_sources import (
    item_features_source,
    item_realtime_push,
    item_text_embeddings_source,
    user_features_source,
    user_realtime_push,
)
from entities import item, user
from feast import FeatureView, Field
from feast.types import Array, FeastType, Float32, Float64, Int64, String

from lambdarec_contracts.features import (
    ITEM_FEATURES,
    ITEM_REALTIME_FEATURES,
    ITEM_REALTIME_VIEW,
    ITEM_STATS_VIEW,
    ITEM_TEXT_FEATURES,
    ITEM_TEXT_VIEW,
    USER_FEATURES,
    USER_REALTIME_FEATURES,
    USER_REALTIME_VIEW,
    USER_STATS_VIEW,
)

_FEAST_TYPES: dict[str, FeastType] = {
    "int64": Int64,
    "float64": Float64,
    "string": String,
    "array<float32>": Array(Float32),
    "array<string>": Array(String),
}


def schema_from_contract(columns: dict[str, str]) -> list[Field]:
    """Feast fields for a contract column dictionary (name -> logical type)."""
    return [Field(name=name, dtype=_FEAST_TYPES[kind]) for name, kind in columns.items()]


_OWNER = "data-team@lambdarec"

user_stats = FeatureView(
    name=USER_STATS_VIEW,
    entities=[user],
    # Spark only emits rows for users active in the data interval; a user's stats stay valid
    # until the next row, so the TTL is long (it also bounds point-in-time lookback in training).
    ttl=timedelta(days=365),
    schema=schema_from_contract(USER_FEATURES),
    source=user_features_source,
    online=True,
    description="User activity counts, rating stats, genre affinity and recent history (daily, Spark).",
    owner=_OWNER,
    tags={"team": "recsys", "cadence": "daily", "source": "spark"},
)

item_stats = FeatureView(
    name=ITEM_STATS_VIEW,
    entities=[item],
    ttl=timedelta(days=365),
    schema=schema_from_contract(ITEM_FEATURES),
    source=item_features_source,
    online=True,
    description="Item popularity, ratings, trending score, metadata and co-occurrence (daily, Spark).",
    owner=_OWNER,
    tags={"team": "recsys", "cadence": "daily", "source": "spark"},
)

item_text_embedding = FeatureView(
    name=ITEM_TEXT_VIEW,
    entities=[item],
    # Content embeddings do not go stale with time, only with content or model changes.
    ttl=timedelta(0),
    schema=schema_from_contract(ITEM_TEXT_FEATURES),
    source=item_text_embeddings_source,
    online=True,
    description="Embedding of the item's text (title, genres, year, tags, description).",
    owner=_OWNER,
    tags={"team": "recsys", "cadence": "daily", "source": "embeddings"},
)

user_realtime = FeatureView(
    name=USER_REALTIME_VIEW,
    entities=[user],
    ttl=timedelta(days=1),
    schema=schema_from_contract(USER_REALTIME_FEATURES),
    source=user_realtime_push,
    online=True,
    description="User features updated per event by the speed layer (push).",
    owner=_OWNER,
    tags={"team": "recsys", "cadence": "realtime", "source": "push"},
)

item_realtime = FeatureView(
    name=ITEM_REALTIME_VIEW,
    entities=[item],
    ttl=timedelta(days=1),
    schema=schema_from_contract(ITEM_REALTIME_FEATURES),
    source=item_realtime_push,
    online=True,
    description="Item features updated per event by the speed layer (push).",
    owner=_OWNER,
    tags={"team": "recsys", "cadence": "realtime", "source": "push"},
)
