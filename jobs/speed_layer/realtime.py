"""Real-time features from the Redis counters, and the pluggable step that pushes them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import pandas as pd
import redis

from lambdarec_contracts import redis_keys as rk
from lambdarec_contracts.features import (
    ITEM_JOIN_KEY,
    ITEM_REALTIME_PUSH_SOURCE,
    RECENT_HISTORY_LEN,
    USER_JOIN_KEY,
    USER_REALTIME_PUSH_SOURCE,
)
from lambdarec_contracts.settings import BaseLambdarecSettings

log = logging.getLogger(__name__)


def sliding_hour_count(current: float, previous: float, now: datetime) -> int:
    """Events in the last hour from two hour buckets (the sliding-window-counter estimate).

    The previous bucket is weighted by the share of it still inside the window, which
    assumes its events were spread evenly over that hour.
    """
    elapsed = (now.timestamp() % 3600) / 3600.0
    return int(round(current + previous * (1.0 - elapsed)))


def realtime_frames(
    client: redis.Redis, user_ids: Iterable[str], item_ids: Iterable[str], now: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """User and item real-time feature rows (push-source schemas) read in one round trip."""
    users, items = sorted(set(user_ids)), sorted(set(item_ids))
    bucket = int(now.timestamp()) // 3600
    pipe = client.pipeline(transaction=False)
    for u in users:
        pipe.lrange(rk.recent_items(u), 0, RECENT_HISTORY_LEN - 1)
    # ZMSCORE: one command per hour bucket for all users / items of the batch
    if users:
        pipe.zmscore(rk.user_activity(bucket), users)
        pipe.zmscore(rk.user_activity(bucket - 1), users)
    if items:
        pipe.zmscore(rk.trending(bucket), items)
        pipe.zmscore(rk.trending(bucket - 1), items)
    replies = pipe.execute()
    recents = replies[: len(users)]
    rest = replies[len(users) :]
    u_cur, u_prev = (rest[0], rest[1]) if users else ([], [])
    i_cur, i_prev = (rest[-2], rest[-1]) if items else ([], [])
    user_rows = [
        {
            USER_JOIN_KEY: u,
            "event_timestamp": now,
            "rt_recent_items": [x.decode() if isinstance(x, bytes) else x for x in recent],
            "rt_n_events_1h": sliding_hour_count(cur or 0.0, prev or 0.0, now),
        }
        for u, recent, cur, prev in zip(users, recents, u_cur, u_prev, strict=True)
    ]
    item_rows = [
        {
            ITEM_JOIN_KEY: i,
            "event_timestamp": now,
            "rt_n_events_1h": sliding_hour_count(cur or 0.0, prev or 0.0, now),
        }
        for i, cur, prev in zip(items, i_cur, i_prev, strict=True)
    ]
    user_df = pd.DataFrame(
        user_rows, columns=[USER_JOIN_KEY, "event_timestamp", "rt_recent_items", "rt_n_events_1h"]
    )
    item_df = pd.DataFrame(item_rows, columns=[ITEM_JOIN_KEY, "event_timestamp", "rt_n_events_1h"])
    return user_df.astype({"rt_n_events_1h": "int64"}), item_df.astype({"rt_n_events_1h": "int64"})


class FeaturePusher(Protocol):
    """Where real-time features go (Feast's push API in production)."""

    enabled: bool

    def push(self, users: pd.DataFrame, items: pd.DataFrame) -> None: ...


class NullPusher:
    """Pushes nothing (``--push none``): counters and landing still run."""

    enabled = False

    def push(self, users: pd.DataFrame, items: pd.DataFrame) -> None:
        return None


class FeastPusher:
    """``FeatureStore.push`` to the user and item real-time push sources (online store)."""

    enabled = True

    def __init__(self, repo_dir: Path) -> None:
        from feature_repo.feast_import import skip_feast_typechecks

        skip_feast_typechecks()  # ~3 s less start-up (see there)
        from feast import FeatureStore  # heavy import: only when pushing is on

        if not (repo_dir / "feature_store.yaml").exists():
            raise FileNotFoundError(f"no feature_store.yaml in {repo_dir} (set LAMBDAREC_FEATURE_REPO)")
        self._store = FeatureStore(repo_path=str(repo_dir))

    def push(self, users: pd.DataFrame, items: pd.DataFrame) -> None:
        from feast.data_source import PushMode

        if len(users):
            self._store.push(USER_REALTIME_PUSH_SOURCE, users, to=PushMode.ONLINE)
        if len(items):
            self._store.push(ITEM_REALTIME_PUSH_SOURCE, items, to=PushMode.ONLINE)


def feast_environment(settings: BaseLambdarecSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """``FEAST_REGISTRY_URL`` / ``FEAST_REDIS_CONNECTION`` for feature_store.yaml, unless already set.

    Same convention as ``feature_repo``'s own helper (SQLite registry under the data dir,
    Feast's ``host:port,db=N`` string from REDIS_URL), repeated because components share
    only the contracts package.
    """
    out: dict[str, str] = {}
    if not environ.get("FEAST_REGISTRY_URL"):
        (settings.data_dir / "feast").mkdir(parents=True, exist_ok=True)
        out["FEAST_REGISTRY_URL"] = f"sqlite:///{settings.data_dir / 'feast' / 'registry.db'}"
    if not environ.get("FEAST_REDIS_CONNECTION"):
        u = urlparse(settings.redis_url)
        parts = [
            f"{u.hostname or '127.0.0.1'}:{u.port or 6379}",
            f"db={int((u.path or '/0').lstrip('/') or 0)}",
        ]
        if u.password:
            parts.append(f"password={unquote(u.password)}")
        if u.scheme == "rediss":
            parts.append("ssl=true")
        out["FEAST_REDIS_CONNECTION"] = ",".join(parts)
    out.setdefault("LAMBDAREC_DATA_DIR", environ.get("LAMBDAREC_DATA_DIR") or str(settings.data_dir))
    return out
