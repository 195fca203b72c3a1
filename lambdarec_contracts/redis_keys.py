"""Redis key layout of everything lambdarec keeps in Redis outside Feast's own keys.

Feast's online store keeps its own layout (project-prefixed hashes keyed by the
serialized entity key); serving reads those directly on its fast path.
"""

PREFIX = "lambdarec"

EVENTS_STREAM = f"{PREFIX}:events"  # Redis Stream of posted events
IMPRESSIONS_STREAM = f"{PREFIX}:impressions"  # Redis Stream of served items (exposure log)
# Both streams are read by the same consumer group; nothing appends with MAXLEN: only the
# worker trims, and only below what the group has acknowledged (jobs.speed_layer.stream).
STREAMS = (EVENTS_STREAM, IMPRESSIONS_STREAM)
EVENTS_GROUP = "speed-layer"  # consumer group of the stream worker
EVENT_DEDUP_TTL_S = 7 * 24 * 3600


def event_seen(event_id: str) -> str:
    """SET NX marker: the API accepted this event id (idempotent POST /v1/events)."""
    return f"{PREFIX}:evt:{event_id}"


def event_applied(event_id: str) -> str:
    """SET NX marker: the worker applied this event's side effects (counters) once."""
    return f"{PREFIX}:evt-applied:{event_id}"


def seen_items(user_id: str) -> str:
    """ZSET item id -> event time (unix ms) of items the user interacted with (filter).

    Bounded: the newest ``seen_items_max`` members, none older than ``seen_items_ttl_s``
    (lambdarec_contracts.user_state writes it; readers take ZREVRANGE 0 max-1).
    """
    return f"{PREFIX}:seen:{user_id}"


def user_history(user_id: str) -> str:
    """STRING: every item the user interacted with, from the batch layer (lambdarec_contracts.user_history)."""
    return f"{PREFIX}:hist:{user_id}"


USER_HISTORY_VERSION = f"{PREFIX}:hist-version"  # STRING: the ds of the last published histories


def not_interested(user_id: str) -> str:
    """ZSET item id -> event time (unix ms) the user marked not interested (filter); bounded like seen."""
    return f"{PREFIX}:neg:{user_id}"


def recent_items(user_id: str) -> str:
    """LIST of the user's most recent item ids from the stream, newest first."""
    return f"{PREFIX}:recent:{user_id}"


def trending(bucket_hour: int) -> str:
    """ZSET item_id -> event count within one hour bucket (unix_seconds // 3600)."""
    return f"{PREFIX}:trending:{bucket_hour}"


TRENDING_TTL_S = 8 * 24 * 3600


def rec_cache(variant: str, user_id: str, params_hash: str) -> str:
    """STRING (JSON) cached final recommendation list."""
    return f"{PREFIX}:rec:{variant}:{user_id}:{params_hash}"


def rec_cache_generation(user_id: str) -> str:
    """INT bumped by each of the user's events; part of the cache key so old lists go stale."""
    return f"{PREFIX}:recgen:{user_id}"


# ZSET user_id -> deletion time (unix ms) of users forgotten by DELETE /v1/users/{id}; the durable
# record the batch reads is the landed CSV (BaseLambdarecSettings.tombstones_dir).
TOMBSTONES = f"{PREFIX}:tombstones"

# --- speed layer (additive) ---
EVENTS_DEAD_LETTER_STREAM = f"{PREFIX}:events:dead"  # unparsable entries, with the reason


def user_activity(bucket_hour: int) -> str:
    """ZSET user_id -> event count within one hour bucket (unix_seconds // 3600); TRENDING_TTL_S."""
    return f"{PREFIX}:user-activity:{bucket_hour}"


# recent_items(user) is capped at this length by every writer (serving on POST, the worker per batch).
RECENT_ITEMS_MAX_LEN = 50

# --- batch features in serving memory ---
# STRING: the version stamp of the last successful materialization (jobs.materialize writes it
# at the end of a run); serving re-reads its in-memory item features when it changes.
FEATURES_VERSION = f"{PREFIX}:features:version"
