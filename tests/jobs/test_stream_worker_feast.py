"""The worker's Feast push step against the real feature_repo/ (feast apply + online reads)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from jobs import stream_worker
from jobs.speed_layer.realtime import feast_environment
from jobs.speed_layer.settings import SpeedLayerSettings
from lambdarec_contracts import redis_keys as rk
from lambdarec_contracts.events import Event, event_to_stream_fields
from lambdarec_contracts.features import ITEM_REALTIME_VIEW, USER_REALTIME_VIEW, feature_ref
from lambdarec_contracts.settings import REPO_ROOT

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FEATURE_REPO = REPO_ROOT / "feature_repo"


def test_worker_pushes_realtime_features_to_feast_online_store(
    redis_server,
    data_dir: Path,
    python_bin: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not (FEATURE_REPO / "feature_store.yaml").exists():
        pytest.fail("feature_repo/feature_store.yaml is missing: the Feast repo is part of the product")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    for k in ("FEAST_REGISTRY_URL", "FEAST_REDIS_CONNECTION"):
        monkeypatch.delenv(k, raising=False)
    env = {**os.environ, **feast_environment(SpeedLayerSettings(), os.environ)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    feast_bin = str(Path(python_bin).parent / "feast")
    applied = subprocess.run([feast_bin, "apply"], cwd=FEATURE_REPO, env=env, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr[-2000:]

    now = datetime.now(UTC) - timedelta(seconds=1)
    events = [
        Event(event_id="a1", user_id="u1", item_id="i1", type="click", ts=now),
        Event(event_id="a2", user_id="u1", item_id="i2", type="view", ts=now),
        Event(event_id="a3", user_id="u1", item_id="i3", type="like", ts=now),
        Event(event_id="a4", user_id="u1", item_id="i4", type="not_interested", ts=now),
        Event(event_id="a5", user_id="u2", item_id="i1", type="view", ts=now),
    ]
    client = redis.Redis.from_url(redis_server.url)
    for e in events:
        client.xadd(rk.EVENTS_STREAM, event_to_stream_fields(e))
    # The CLI in-process (one Feast import fewer than a subprocess; the crash tests cover the
    # subprocess path). It installs SIGTERM/SIGINT handlers: give pytest its own back afterwards.
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with caplog.at_level(logging.INFO, logger="jobs.stream_worker"):
            assert stream_worker.main(["--once", "--push", "feast", "--consumer", "f"]) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert "push_failures=0" in caplog.text and "events=5 (new=5" in caplog.text

    from feast import FeatureStore

    store = FeatureStore(repo_path=str(FEATURE_REPO))
    users = store.get_online_features(
        features=[
            feature_ref(USER_REALTIME_VIEW, "rt_recent_items"),
            feature_ref(USER_REALTIME_VIEW, "rt_n_events_1h"),
        ],
        entity_rows=[{"user_id": "u1"}, {"user_id": "u2"}],
    ).to_dict()
    # u1: 4 events in the last hour; positive ones (like i3, click i1) newest first. u2: 1 view.
    assert users["rt_n_events_1h"] == [4, 1]
    assert users["rt_recent_items"] == [["i3", "i1"], []]
    items = store.get_online_features(
        features=[feature_ref(ITEM_REALTIME_VIEW, "rt_n_events_1h")],
        entity_rows=[{"item_id": i} for i in ("i1", "i2", "i3", "i4")],
    ).to_dict()
    assert items["rt_n_events_1h"] == [2, 1, 1, 0]  # not_interested does not count towards an item
