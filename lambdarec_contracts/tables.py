"""Artifact names and column schemas exchanged between batch-layer steps.

Layout under ``Paths.data_dir`` (default ``<repo>/var/data``)::

    landing/                      canonical raw tables written by jobs.ingest
        items.parquet             LANDING_ITEMS_COLUMNS
        users.parquet             LANDING_USERS_COLUMNS
        interactions/             LANDING_INTERACTIONS_COLUMNS, part-*.parquet
        ingest_report.json        counts of rows read / rejected per file and reason
        tombstones/*.csv          forgotten users, TOMBSTONE_COLUMNS (written by serving's DELETE
                                  /v1/users/{id}; dbt drops their interactions up to deleted_at)
    warehouse.duckdb              dbt's DuckDB database (staging views, marts)
    marts/<model>.parquet         dbt marts exported for Spark (dim_items, dim_users, fct_interactions)
    features/<table>/ds=YYYY-MM-DD/part-*.parquet
                                  Spark feature tables, one partition per data interval
    embeddings/item_text_embeddings.parquet
    events/landed/date=YYYY-MM-DD/hour=HH/*.parquet   events landed by the speed layer
    events/impressions/date=YYYY-MM-DD/hour=HH/*.parquet  impressions landed by the speed layer
    training_sets/ds=YYYY-MM-DD/training_set.parquet  point-in-time set from Feast
    models/bundles/<version>/     model bundles; models/current -> bundles/<version>
"""

# Event semantics live in lambdarec_contracts.events (re-exported here for older imports).
from .events import EVENT_TYPES as EVENT_TYPES
from .events import POSITIVE_RATING as POSITIVE_RATING

# --- landing (canonical raw schema; ids are strings, kept exactly as in the source) ---
LANDING_ITEMS_COLUMNS = {
    "item_id": "string",
    "title": "string",  # without the "(1995)" suffix when the source puts the year there
    "genres": "string",  # pipe-separated, MovieLens spelling, "" when none
    "year": "int32",  # nullable
    "tags": "string",  # pipe-separated free-text tags, "" when none
    "description": "string",  # one line, "" when none
}
# One CSV per deletion (header + one row); deleted_at is ISO 8601 UTC.
TOMBSTONE_COLUMNS = {"user_id": "string", "deleted_at": "timestamp"}
LANDING_USERS_COLUMNS = {
    "user_id": "string",
    "gender": "string",  # nullable: "M" / "F"
    "age": "int32",  # nullable
    "occupation": "string",  # nullable
    "zip_code": "string",  # nullable
}
LANDING_INTERACTIONS_COLUMNS = {
    "user_id": "string",
    "item_id": "string",
    "rating": "float64",  # explicit rating, nullable for implicit events
    "event_type": "string",  # rating | view | click | like | not_interested
    "event_ts": "timestamp[us, UTC]",
}

# --- events landed by the speed layer (events/landed/date=YYYY-MM-DD/hour=HH/*.parquet) ---
LANDED_EVENTS_COLUMNS = {
    "event_id": "string",
    "user_id": "string",
    "item_id": "string",
    "event_type": "string",  # one of EVENT_TYPES
    "value": "float64",  # rating value for "rating", nullable otherwise
    "event_ts": "timestamp[us, UTC]",
    "ingested_at": "timestamp[us, UTC]",
}

# --- impressions landed by the speed layer (events/impressions/date=YYYY-MM-DD/hour=HH/*.parquet) ---
LANDED_IMPRESSIONS_COLUMNS = {
    "request_id": "string",
    "user_id": "string",
    "item_id": "string",
    "position": "int32",
    "model_version": "string",
    "variant": "string",
    "experiment": "string",  # nullable
    "source": "string",
    "impression_ts": "timestamp[us, UTC]",
    "ingested_at": "timestamp[us, UTC]",
}

# --- dbt marts (exported to Parquet for Spark: marts/<name>.parquet) ---
DIM_ITEMS = "dim_items"
DIM_USERS = "dim_users"
FCT_INTERACTIONS = "fct_interactions"
MARTS = (DIM_ITEMS, DIM_USERS, FCT_INTERACTIONS)
DIM_ITEMS_COLUMNS = {
    "item_id": "string",
    "title": "string",
    "genres": "list<string>",  # canonical names from GENRES (aliases mapped), ["(other)"] when none
    "year": "int32",  # nullable
    "tags": "string",
    "description": "string",
    "first_seen_ts": "timestamp[us, UTC]",  # first interaction, nullable for items never interacted with
}
DIM_USERS_COLUMNS = {
    "user_id": "string",
    "gender": "string",
    "age": "int32",
    "occupation": "string",
    "zip_code": "string",
    "first_seen_ts": "timestamp[us, UTC]",
    "last_seen_ts": "timestamp[us, UTC]",
    "n_interactions": "int64",
}
FCT_INTERACTIONS_COLUMNS = {
    "interaction_id": "string",  # md5 of user_id|item_id|event_type|event_ts (or the event_id of landed events)
    "user_id": "string",
    "item_id": "string",
    "rating": "float64",  # nullable for implicit events
    "event_type": "string",
    "event_ts": "timestamp[us, UTC]",
    "event_date": "date32",
    "is_positive": "bool",  # rating >= POSITIVE_RATING, or like/click
}

# --- Spark feature tables (one row per entity per data interval, with event_timestamp) ---
USER_FEATURES_TABLE = "user_features"
ITEM_FEATURES_TABLE = "item_features"
ITEM_EMBEDDINGS_TABLE = "item_text_embeddings"


# Genres known to the system, in a fixed order: genre-affinity vectors use this order.
# The union of MovieLens genre vocabularies (100k, 1m, latest); unknown genres map to "(other)".
GENRES = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
    "(other)",
)
# Source spellings dbt staging maps onto GENRES (its genre_aliases seed must equal this; a test
# checks). Only dbt staging applies them: later layers receive canonical names.
GENRE_ALIASES = {"Children's": "Children", "unknown": "(other)", "(no genres listed)": "(other)"}

# --- training sets (pipeline env, Feast get_historical_features, full_feature_names=True) ---
# training_sets/ds=<ds>/training_set.parquet: one row per interaction in [start, ds] with
# user_id, item_id, event_timestamp, rating, event_type, label (1 = positive, 0 = not), and
# every user-side feature (views keyed by user_id) of the RETRIEVAL_SERVICE and RANKER_SERVICE as
# "<view>__<feature>" columns, each as of event_timestamp (point-in-time: no value computed after
# the event is visible). The item-side views' columns only with ``jobs.training_set --item-views``.
TRAINING_SET_FILE = "training_set.parquet"
