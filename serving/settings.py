"""Serving configuration: environment variables parsed once into one settings object."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from lambdarec_contracts.redis_keys import EVENT_DEDUP_TTL_S
from lambdarec_contracts.settings import REPO_ROOT, reject_placeholder_secret
from lambdarec_contracts.user_state import UserStateLimits


class ServingSettings(UserStateLimits):
    """Every knob of the serving API (env var names in the aliases; see serving/README.md).

    Per-user state bounds (LAMBDAREC_SEEN_ITEMS_MAX, ...) come from UserStateLimits, which the
    speed-layer worker reads too.
    """

    # Writes (POST /v1/events). Unset: writes are refused.
    api_key: SecretStr | None = Field(default=None, alias="LAMBDAREC_API_KEY")
    # /v1/admin/*. Unset: admin endpoints are refused (the write key never opens them).
    admin_key: SecretStr | None = Field(default=None, alias="LAMBDAREC_ADMIN_KEY")
    # Reads (GET /v1/recommendations, /v1/items): open when unset; when set, X-API-Key must be
    # this key (or the write key). Responses name titles a user liked.
    read_key: SecretStr | None = Field(default=None, alias="LAMBDAREC_READ_KEY")
    # Largest request body accepted (413 above it); a full batch of 500 events is ~150 KB.
    max_body_bytes: int = Field(default=512 * 1024, ge=1024, alias="LAMBDAREC_MAX_BODY_BYTES")
    # Accepted event times: [now - max_age, now + max_ahead]. The age is capped by the dedup
    # window, so a retry is either recognised as a duplicate or refused, never counted twice.
    event_max_age_s: float = Field(
        default=EVENT_DEDUP_TTL_S, gt=0, le=EVENT_DEDUP_TTL_S, alias="LAMBDAREC_EVENT_MAX_AGE_S"
    )
    event_max_ahead_s: float = Field(default=300.0, ge=0, le=86400, alias="LAMBDAREC_EVENT_MAX_AHEAD_S")
    # Serve /metrics on this port of its own (0: off). In compose it is set and
    # LAMBDAREC_METRICS_ON_API_PORT is false, so the published API port has no /metrics.
    metrics_port: int = Field(default=0, ge=0, le=65535, alias="LAMBDAREC_METRICS_PORT")
    metrics_on_api_port: bool = Field(default=True, alias="LAMBDAREC_METRICS_ON_API_PORT")
    # A pinned experiment bundle that failed to load is retried after this long (not per request).
    pinned_retry_s: float = Field(default=60.0, ge=0.0, alias="LAMBDAREC_PINNED_RETRY_S")
    experiments_file: Path = Field(
        default=REPO_ROOT / "serving" / "experiments.yaml", alias="LAMBDAREC_EXPERIMENTS_FILE"
    )
    # Overrides settings.current_bundle_link (the models/current symlink) when set.
    bundle_path: Path | None = Field(default=None, alias="LAMBDAREC_BUNDLE_PATH")
    bundle_poll_s: float = Field(default=5.0, ge=0.0, alias="LAMBDAREC_BUNDLE_POLL_S")

    # Budgets of the in-memory part of one request and of each candidate generator, in the request
    # thread's CPU time (waits for the GIL or a core under load do not count; see pipeline/run.py).
    latency_budget_ms: float = Field(default=150.0, gt=0, alias="LAMBDAREC_LATENCY_BUDGET_MS")
    generator_timeout_ms: float = Field(default=60.0, gt=0, alias="LAMBDAREC_GENERATOR_TIMEOUT_MS")
    # Comma-separated generator names, in tie-break priority order.
    generators: str = Field(
        default="item_cf,two_tower,because_you_liked,trending,popular", alias="LAMBDAREC_GENERATORS"
    )
    candidates_per_generator: int = Field(
        default=100, ge=1, le=2000, alias="LAMBDAREC_CANDIDATES_PER_GENERATOR"
    )
    hnsw_threshold: int = Field(default=20000, ge=1, alias="LAMBDAREC_HNSW_THRESHOLD")
    # Where the two-tower and "because you liked" generators find nearest vectors: "memory" (the
    # bundle's in-process index, in every process) or "redis" (the HNSW index per bundle version
    # that publishing writes into Redis's query engine, Redis 8 / Redis Stack; shared by every
    # replica). With "redis" a missing index or Redis falls back to memory, flagged degraded.
    vector_backend: str = Field(
        default="memory", pattern="^(memory|redis)$", alias="LAMBDAREC_VECTOR_BACKEND"
    )
    vector_ef_runtime: int = Field(default=200, ge=1, le=10000, alias="LAMBDAREC_VECTOR_EF_RUNTIME")
    # Text neighbours per liked item (the bundle's lists hold as many: training's `neighbours`).
    vector_text_neighbours: int = Field(default=20, ge=1, le=1000, alias="LAMBDAREC_VECTOR_TEXT_NEIGHBOURS")
    # After Redis said an index is missing, ask the memory index without trying Redis this long.
    vector_retry_s: float = Field(default=5.0, ge=0.0, alias="LAMBDAREC_VECTOR_RETRY_S")
    trending_window_h: int = Field(default=24, ge=1, alias="LAMBDAREC_TRENDING_WINDOW_H")
    trending_fallback_window_h: int = Field(default=168, ge=1, alias="LAMBDAREC_TRENDING_FALLBACK_WINDOW_H")
    # The trending list is the same for everyone: one ZUNION per this many seconds, not per request.
    trending_cache_s: float = Field(default=5.0, ge=0.0, alias="LAMBDAREC_TRENDING_CACHE_S")
    liked_anchors: int = Field(default=5, ge=1, alias="LAMBDAREC_LIKED_ANCHORS")

    # Ranking
    diversity_max_per_genre: int = Field(default=3, ge=1, alias="LAMBDAREC_DIVERSITY_MAX_PER_GENRE")
    # Off by default, chosen by the served evaluation: a cap of 3 per genre cost the served
    # Recall@10 16 % (demo sample) / 3 % (1m preset) over the first 10 slots and 0.7 % / 3 % over
    # the first 5. Turn it on per deployment or per A/B variant (experiments.yaml).
    diversity_window: int = Field(default=0, ge=0, alias="LAMBDAREC_DIVERSITY_WINDOW")
    exploration_share: float = Field(default=0.05, ge=0.0, le=0.5, alias="LAMBDAREC_EXPLORATION_SHARE")
    # JSON {source: additive boost} applied to the value-model score of items from that generator.
    source_boosts: dict[str, float] = Field(default_factory=dict, alias="LAMBDAREC_SOURCE_BOOSTS")

    # Caching
    cache_ttl_s: float = Field(default=60.0, ge=0.0, alias="LAMBDAREC_CACHE_TTL_S")
    local_cache_size: int = Field(default=10000, ge=0, alias="LAMBDAREC_LOCAL_CACHE_SIZE")
    local_cache_ttl_s: float = Field(default=5.0, ge=0.0, alias="LAMBDAREC_LOCAL_CACHE_TTL_S")

    # Redis client: short timeouts so a dead store degrades a request instead of hanging it.
    redis_socket_timeout_s: float = Field(default=0.25, gt=0, alias="LAMBDAREC_REDIS_SOCKET_TIMEOUT_S")
    redis_backoff_s: float = Field(default=0.5, ge=0.0, alias="LAMBDAREC_REDIS_BACKOFF_S")
    # "lua": one EVAL with every HMGET (fast, single-node Redis); "pipeline": N pipelined HMGETs
    # (Redis Cluster, where candidates' keys span slots).
    feature_fetch: str = Field(default="lua", pattern="^(lua|pipeline)$", alias="LAMBDAREC_FEATURE_FETCH")
    log_impressions: bool = Field(default=True, alias="LAMBDAREC_LOG_IMPRESSIONS")

    # Console (/console): the Airflow API server whose DAG runs the Pipelines page shows (unset:
    # "not configured"), and its simple-auth-manager credentials (unset: the token endpoint of
    # an all-admins deployment, as `make airflow` runs it).
    airflow_url: str | None = Field(default=None, pattern=r"^https?://", alias="LAMBDAREC_AIRFLOW_URL")
    airflow_username: str | None = Field(default=None, alias="LAMBDAREC_AIRFLOW_USERNAME")
    airflow_password: SecretStr | None = Field(default=None, alias="LAMBDAREC_AIRFLOW_PASSWORD")
    airflow_timeout_s: float = Field(default=2.0, gt=0, le=30, alias="LAMBDAREC_AIRFLOW_TIMEOUT_S")

    @field_validator("api_key", "admin_key", "read_key", "airflow_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        return None if v == "" else v  # compose passes optional keys as empty strings

    @field_validator("api_key", "admin_key", "read_key")
    @classmethod
    def _no_placeholder_key(cls, v: SecretStr | None) -> SecretStr | None:
        v = reject_placeholder_secret(v)
        if v is not None and len(v.get_secret_value()) < 12:
            raise ValueError("API keys must be at least 12 characters")
        return v

    @model_validator(mode="after")
    def _distinct_keys(self) -> ServingSettings:
        admin, write = self.admin_key, self.api_key
        if admin is not None and write is not None and admin.get_secret_value() == write.get_secret_value():
            raise ValueError("LAMBDAREC_ADMIN_KEY must differ from LAMBDAREC_API_KEY")
        return self

    @property
    def bundle_link(self) -> Path:
        return self.bundle_path or self.current_bundle_link

    @property
    def generator_names(self) -> list[str]:
        return [g.strip() for g in self.generators.split(",") if g.strip()]
