"""Data sources: the Spark feature tables, the text embeddings and the speed layer's push sources.

Paths depend on ``LAMBDAREC_DATA_DIR``: Feast imports this module to plan/apply the
repo, which is the one accepted place where definitions read configuration.
"""

from feast import FileSource, PushSource
from feast.data_format import ParquetFormat

from feature_repo.feast_settings import FeastSettings
from lambdarec_contracts.features import ITEM_REALTIME_PUSH_SOURCE, USER_REALTIME_PUSH_SOURCE
from lambdarec_contracts.tables import (
    ITEM_EMBEDDINGS_TABLE,
    ITEM_FEATURES_TABLE,
    USER_FEATURES_TABLE,
)

_settings = FeastSettings()

# Spark writes one hive-style partition per data interval: <table>/ds=YYYY-MM-DD/part-*.parquet.
user_features_source = FileSource(
    name=USER_FEATURES_TABLE,
    path=str(_settings.features_dir / USER_FEATURES_TABLE),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="Spark user features, one ds= partition per data interval.",
    owner="data-team@lambdarec",
)

item_features_source = FileSource(
    name=ITEM_FEATURES_TABLE,
    path=str(_settings.features_dir / ITEM_FEATURES_TABLE),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="Spark item features, one ds= partition per data interval.",
    owner="data-team@lambdarec",
)

item_text_embeddings_source = FileSource(
    name=ITEM_EMBEDDINGS_TABLE,
    path=str(_settings.embeddings_dir / f"{ITEM_EMBEDDINGS_TABLE}.parquet"),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="Item text embeddings (one row per item, current model) from jobs.embeddings.",
    owner="data-team@lambdarec",
)

# Real-time features are pushed online by the speed layer; the batch sources are where
# their history lands offline (for training and backfills).
user_realtime_push = PushSource(
    name=USER_REALTIME_PUSH_SOURCE,
    batch_source=FileSource(
        name="user_realtime_batch",
        path=str(_settings.data_dir / "events" / "realtime_user"),
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
    ),
    description="User real-time features pushed by the stream worker.",
    owner="data-team@lambdarec",
)

item_realtime_push = PushSource(
    name=ITEM_REALTIME_PUSH_SOURCE,
    batch_source=FileSource(
        name="item_realtime_batch",
        path=str(_settings.data_dir / "events" / "realtime_item"),
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
    ),
    description="Item real-time features pushed by the stream worker.",
    owner="data-team@lambdarec",
)
