"""The batch layer's per-user histories in Redis: every interaction up to ds, idempotent, bad input untouched."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import redis

from jobs.publish_history import HistoryError, publish
from lambdarec_contracts import redis_keys, user_history

pytestmark = pytest.mark.redis


def _mart(path: Path, rows: list[tuple[str | None, str | None, str, str]]) -> Path:
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "event_ts"])
    df["event_ts"] = pd.to_datetime(df["event_ts"], utc=True)
    df.to_parquet(path, index=False)
    return path


ROWS = [
    ("u1", "10", "rating", "2024-03-01 10:00"),
    ("u1", "2", "view", "2024-03-02 10:00"),
    ("u1", "10", "rating", "2024-03-03 10:00"),  # a re-interaction: listed once
    ("u1", "7", "not_interested", "2024-03-03 11:00"),  # negative feedback is an interaction too
    ("u2", "2", "rating", "2024-03-04 23:59"),
    ("u2", "99", "rating", "2024-03-05 00:00"),  # after the end of ds: not yet
]


def test_histories_as_of_ds_and_idempotent(tmp_path: Path, redis_server) -> None:
    mart = _mart(tmp_path / "fct.parquet", ROWS)
    counts = publish(redis_server.url, mart, dt.date(2024, 3, 4), chunk=1)
    assert counts == {"users": 2, "items": 4}
    r = redis.Redis.from_url(redis_server.url)
    assert user_history.decode(r.get(redis_keys.user_history("u1"))) == {"10", "2", "7"}
    assert user_history.decode(r.get(redis_keys.user_history("u2"))) == {"2"}
    assert r.get(redis_keys.USER_HISTORY_VERSION) == b"2024-03-04"
    before = {k: r.get(k) for k in r.keys(redis_keys.user_history("*"))}
    publish(redis_server.url, mart, dt.date(2024, 3, 4))
    assert {k: r.get(k) for k in r.keys(redis_keys.user_history("*"))} == before  # same bytes
    publish(redis_server.url, mart, dt.date(2024, 3, 5))
    assert user_history.decode(r.get(redis_keys.user_history("u2"))) == {"2", "99"}


def test_bad_mart_writes_nothing(tmp_path: Path, redis_server) -> None:
    r = redis.Redis.from_url(redis_server.url)
    bad = _mart(tmp_path / "bad.parquet", [*ROWS, (None, "3", "rating", "2024-03-01 00:00")])
    with pytest.raises(HistoryError, match="null user or item id"):
        publish(redis_server.url, bad, dt.date(2024, 3, 4))
    with pytest.raises(HistoryError, match="missing mart"):
        publish(redis_server.url, tmp_path / "nope.parquet", dt.date(2024, 3, 4))
    pd.DataFrame({"user_id": ["u1"], "event_ts": [pd.Timestamp("2024-03-01", tz="UTC")]}).to_parquet(
        tmp_path / "cols.parquet"
    )
    with pytest.raises(HistoryError, match=r"lacks columns \['item_id'\]"):
        publish(redis_server.url, tmp_path / "cols.parquet", dt.date(2024, 3, 4))
    assert r.keys("*") == []  # nothing reached the online store


def test_cli_fails_with_the_reason(tmp_path: Path, redis_server) -> None:
    env = {"LAMBDAREC_DATA_DIR": str(tmp_path), "REDIS_URL": redis_server.url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "jobs.publish_history", "--ds", "2024-03-04"],
        capture_output=True, text=True, env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    assert out.returncode == 2 and "missing mart" in out.stderr and "Traceback" not in out.stderr
