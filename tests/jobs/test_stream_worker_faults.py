"""Speed-layer worker faults against a real redis-server (regression tests of issue 11).

Redis losing its data (NOGROUP), refusing writes (READONLY), entries lost before processing,
trimming, fsync before the ack, impressions on their own stream, no password in messages.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import redis

from jobs.speed_layer import landing, stream
from jobs.speed_layer.realtime import NullPusher
from jobs.speed_layer.worker import StreamWorker, WorkerConfig
from lambdarec_contracts import redis_keys as rk
from lambdarec_contracts.events import Impression, impression_to_stream_fields
from tests.conftest import free_port
from tests.jobs.test_stream_worker import (
    LIMITS,
    T0,
    crash_events,
    landed_rows,
    send,
    start_worker,
    stop_worker,
    wait_for_rows,
    worker_env,
)

pytestmark = pytest.mark.redis


def make_worker(client: redis.Redis, data_dir: Path, **cfg: object) -> StreamWorker:
    config = WorkerConfig(
        consumer="w",
        events_dir=data_dir / "events" / "landed",
        impressions_dir=data_dir / "events" / "impressions",
        block_ms=10,
        limits=LIMITS,
        **cfg,  # type: ignore[arg-type]
    )
    return StreamWorker(client, NullPusher(), config)


def test_worker_recreates_its_group_after_redis_restarts_empty(
    redis_server, data_dir: Path, tmp_path: Path, python_bin: str
) -> None:
    # Was: XREADGROUP -> "NOGROUP" (a ResponseError, not a connection error) killed the worker.
    env = worker_env(redis_server.url, data_dir)
    events = crash_events()
    proc = start_worker(python_bin, tmp_path, env)
    try:
        send(redis.Redis.from_url(redis_server.url), events[:20])
        wait_for_rows(data_dir, 20)
        redis_server.stop()
        for f in redis_server.workdir.rglob("*"):  # no AOF: Redis comes back empty
            if f.is_file():
                f.unlink()
        redis_server.start()
        client = redis.Redis.from_url(redis_server.url)
        assert client.exists(rk.EVENTS_STREAM) == 0
        send(client, events[20:])
        wait_for_rows(data_dir, len(events), timeout_s=30)
        assert proc.poll() is None
    finally:
        err = stop_worker(proc)
    assert proc.returncode == 0, err
    assert sorted(r["event_id"] for r in landed_rows(data_dir)) == sorted(e.event_id for e in events)
    assert client.xpending(rk.EVENTS_STREAM, rk.EVENTS_GROUP)["pending"] == 0


def test_worker_backs_off_from_readonly_and_resumes(
    redis_server, data_dir: Path, tmp_path: Path, python_bin: str
) -> None:
    # Was: any ResponseError (READONLY after a failover, OOM, MASTERDOWN, LOADING) killed the worker.
    env = worker_env(redis_server.url, data_dir)
    events = crash_events()
    client = redis.Redis.from_url(redis_server.url)
    proc = start_worker(python_bin, tmp_path, env)
    try:
        send(client, events[:20])
        wait_for_rows(data_dir, 20)
        client.replicaof("127.0.0.1", str(free_port()))  # a replica of nobody: writes -> READONLY
        time.sleep(1.5)
        client.replicaof("NO", "ONE")
        send(client, events[20:])
        wait_for_rows(data_dir, len(events), timeout_s=30)
        assert proc.poll() is None
    finally:
        err = stop_worker(proc)
    assert proc.returncode == 0, err
    assert "Redis unavailable (ReadOnlyError)" in err
    assert len(landed_rows(data_dir)) == len(events)


def test_impressions_have_their_own_stream_and_are_landed(redis_server, data_dir: Path) -> None:
    client = redis.Redis.from_url(redis_server.url)
    imp = Impression(
        request_id="r1", user_id="u1", item_id="i1", position=0, model_version="m1",
        variant="control", experiment="exp1", source="ann", ts=T0,
    )  # fmt: skip
    client.xadd(rk.IMPRESSIONS_STREAM, impression_to_stream_fields(imp))
    send(client, crash_events()[:3])
    totals = make_worker(client, data_dir).run(once=True)
    assert (totals.events, totals.impressions) == (3, 1)
    files = list((data_dir / "events" / "impressions").rglob("*.parquet"))
    assert [pq.read_table(f).to_pylist()[0]["request_id"] for f in files] == ["r1"]
    assert client.xpending(rk.IMPRESSIONS_STREAM, rk.EVENTS_GROUP)["pending"] == 0


def test_entries_lost_before_processing_are_counted(redis_server, data_dir: Path) -> None:
    # Was: a pending entry whose payload was gone was acked silently.
    client = redis.Redis.from_url(redis_server.url)
    send(client, crash_events()[:5])
    stream.ensure_groups(client)
    delivered = stream.read_new(client, "w", 10, None)[rk.EVENTS_STREAM]  # then the worker "crashed"
    client.xdel(rk.EVENTS_STREAM, delivered[1][0], delivered[3][0])  # someone deletes two of them
    worker = make_worker(client, data_dir)
    totals = worker.run(once=True)
    assert (totals.events, totals.lost) == (3, 2)
    assert worker.metrics.lost.labels(stream=rk.EVENTS_STREAM)._value.get() == 2
    assert client.xpending(rk.EVENTS_STREAM, rk.EVENTS_GROUP)["pending"] == 0


def test_trimming_keeps_every_unacknowledged_entry(redis_server, data_dir: Path) -> None:
    client = redis.Redis.from_url(redis_server.url)
    events = crash_events() * 6  # 318 entries (ids repeat: only counts matter here)
    send(client, events)
    stream.ensure_groups(client)
    # A dead consumer holds the first 150 entries unacked (too recently idle to be claimed).
    held = stream.read_new(client, "dead", 150, None)[rk.EVENTS_STREAM]
    worker = make_worker(client, data_dir, retain_s=0.0, trim_every_s=0.0)
    worker.run(once=True)
    first_held = held[0][0]
    assert client.xlen(rk.EVENTS_STREAM) == len(events)  # nothing below the oldest pending entry
    assert client.xrange(rk.EVENTS_STREAM, count=1)[0][0] == first_held
    # Once they are processed and acked, the stream is trimmed (whole nodes, approximately).
    stream.ack(client, [e[0] for e in held])
    assert stream.trim_processed(client, rk.EVENTS_STREAM, retain_s=0.0) >= 200
    assert client.xlen(rk.EVENTS_STREAM) < len(events) - 200


def test_retain_s_keeps_recent_processed_entries(redis_server, data_dir: Path) -> None:
    client = redis.Redis.from_url(redis_server.url)
    send(client, crash_events() * 4)
    make_worker(client, data_dir, retain_s=3600.0, trim_every_s=0.0).run(once=True)
    assert client.xlen(rk.EVENTS_STREAM) == 4 * len(crash_events())


def test_landed_files_and_directories_are_fsynced_before_the_ack(
    redis_server, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    send(client, crash_events()[:5])
    calls: list[str] = []
    real_fsync, real_ack = os.fsync, stream.ack

    def fsync(fd: int) -> None:
        calls.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        real_fsync(fd)

    def ack(*args: object, **kw: object) -> int:
        calls.append("ack")
        return real_ack(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(landing.os, "fsync", fsync)
    monkeypatch.setattr(stream, "ack", ack)
    make_worker(client, data_dir).run(once=True)
    assert "ack" in calls
    before_ack = calls[: calls.index("ack")]
    assert "file" in before_ack and before_ack[-1] == "dir"


def test_worker_connection_has_timeouts_and_keepalive() -> None:
    from jobs.stream_worker import redis_client

    kw = redis_client("redis://127.0.0.1:1/0", block_ms=1000).connection_pool.connection_kwargs
    assert kw["socket_timeout"] > 1.0 and kw["socket_connect_timeout"] > 0 and kw["socket_keepalive"] is True


@pytest.mark.parametrize("module", ["jobs.stream_worker", "jobs.land_events"])
def test_no_password_in_error_messages(module: str, data_dir: Path, tmp_path: Path, python_bin: str) -> None:
    url = f"redis://:s3cr3t-pass-word@127.0.0.1:{free_port()}/0"
    env = {**os.environ, "LAMBDAREC_DATA_DIR": str(data_dir), "REDIS_URL": url}
    args = (
        ["--push", "none", "--once"]
        if module == "jobs.stream_worker"
        else ["--ds", "2026-01-01", "--hour", "3"]
    )
    run = subprocess.run(
        [python_bin, "-m", module, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1, run.stderr
    assert "s3cr3t-pass-word" not in run.stderr + run.stdout and "***" in run.stderr
