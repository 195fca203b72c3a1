"""Speed-layer stream worker against a real redis-server: counting, landing, dead letters, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import redis

from jobs.speed_layer.realtime import NullPusher
from jobs.speed_layer.worker import StreamWorker, WorkerConfig
from lambdarec_contracts import redis_keys as rk
from lambdarec_contracts.events import Event, Impression, event_to_stream_fields, impression_to_stream_fields
from lambdarec_contracts.user_state import UserStateLimits

pytestmark = pytest.mark.redis

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
BUCKET_10 = int(T0.timestamp()) // 3600  # 2026-01-01T10:00Z
# Seen / not-interested members older than their TTL are dropped (by event time): T0 is fixed in
# the past, so the tests keep them for ten years.
LONG_TTL = {
    "LAMBDAREC_SEEN_ITEMS_TTL_S": str(3650 * 86400),
    "LAMBDAREC_NOT_INTERESTED_TTL_S": str(3650 * 86400),
}
LIMITS = UserStateLimits(**LONG_TTL)


def ev(n: int, user: str, item: str, type_: str, minute: int, value: float | None = None) -> Event:
    return Event(
        event_id=f"e{n}",
        user_id=user,
        item_id=item,
        type=type_,
        value=value,
        ts=T0 + timedelta(minutes=minute),
    )


def send(client: redis.Redis, events: list[Event]) -> None:
    pipe = client.pipeline(transaction=False)
    for e in events:
        pipe.xadd(rk.EVENTS_STREAM, event_to_stream_fields(e))
    pipe.execute()


def make_worker(client: redis.Redis, data_dir: Path, batch: int = 500, consumer: str = "t") -> StreamWorker:
    cfg = WorkerConfig(
        consumer=consumer,
        events_dir=data_dir / "events" / "landed",
        impressions_dir=data_dir / "events" / "impressions",
        batch=batch,
        block_ms=10,
        limits=LIMITS,
    )
    return StreamWorker(client, NullPusher(), cfg)


def worker_env(redis_url: str, data_dir: Path) -> dict[str, str]:
    """The environment of a ``python -m jobs.stream_worker`` subprocess against this test's Redis."""
    return {**os.environ, "LAMBDAREC_DATA_DIR": str(data_dir), "REDIS_URL": redis_url, **LONG_TTL}


def start_worker(python_bin: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [python_bin, "-m", "jobs.stream_worker", "--push", "none", "--consumer", "w", "--block-ms", "100"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def stop_worker(proc: subprocess.Popen) -> str:
    """SIGTERM (the worker finishes its batch and exits), then its stderr; killed if it hangs."""
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return err


def landed_rows(data_dir: Path) -> list[dict]:
    """Every landed event row, without any dedupe (so duplicates would show)."""
    rows: list[dict] = []
    for f in sorted((data_dir / "events" / "landed").glob("date=*/hour=*/*.parquet")):
        rows += pq.read_table(f).to_pylist()
    return rows


def zset(client: redis.Redis, key: str) -> dict[str, float]:
    return {k.decode(): v for k, v in client.zrange(key, 0, -1, withscores=True)}


# u1: view i1, click i2, rating 5 i1, rating 2 i3, not_interested i4, like i2 ; u2: view i1 at 11:05
SCENARIO = [
    ev(1, "u1", "i1", "view", 1),
    ev(2, "u1", "i2", "click", 2),
    ev(3, "u1", "i1", "rating", 3, 5.0),
    ev(4, "u1", "i3", "rating", 4, 2.0),
    ev(5, "u1", "i4", "not_interested", 5),
    ev(6, "u1", "i2", "like", 6),
    ev(7, "u2", "i1", "view", 65),
]


def test_counters_exactly_once_under_redelivery(redis_server, data_dir: Path) -> None:
    client = redis.Redis.from_url(redis_server.url)
    send(client, SCENARIO)
    worker = make_worker(client, data_dir, batch=3)
    totals = worker.run(once=True)
    assert (totals.events, totals.applied, totals.batches) == (7, 7, 3)

    # Re-deliver everything twice (as after a crash before XACK), cut at other batch boundaries.
    entries = client.xrange(rk.EVENTS_STREAM)
    assert worker.process(entries).applied == 0
    assert worker.process(entries[2:5]).applied == 0

    # Hand-counted: hour 10 has i1 x2 (view, rating 5), i2 x2, i3 x1 (not_interested excluded); hour 11: i1 x1.
    assert zset(client, rk.trending(BUCKET_10)) == {"i1": 2.0, "i2": 2.0, "i3": 1.0}
    assert zset(client, rk.trending(BUCKET_10 + 1)) == {"i1": 1.0}
    assert zset(client, rk.user_activity(BUCKET_10)) == {"u1": 6.0}
    assert zset(client, rk.user_activity(BUCKET_10 + 1)) == {"u2": 1.0}
    assert 0 < client.ttl(rk.trending(BUCKET_10)) <= rk.TRENDING_TTL_S
    # Recent items: positive events only (click i2, rating 5 i1, like i2), deduped, newest first.
    assert [x.decode() for x in client.lrange(rk.recent_items("u1"), 0, -1)] == ["i2", "i1"]
    assert client.lrange(rk.recent_items("u2"), 0, -1) == []
    assert set(client.zrange(rk.seen_items("u1"), 0, -1)) == {b"i1", b"i2", b"i3"}
    assert client.zrange(rk.not_interested("u1"), 0, -1) == [b"i4"]
    assert client.xpending(rk.EVENTS_STREAM, rk.EVENTS_GROUP)["pending"] == 0

    # Landed: 3 batch files + 2 re-delivered ones; deduped readers see each event once.
    rows = landed_rows(data_dir)
    assert sorted({r["event_id"] for r in rows}) == [f"e{i}" for i in range(1, 8)]
    by_id = {r["event_id"]: r for r in rows}
    assert by_id["e3"]["value"] == 5.0 and by_id["e1"]["value"] is None
    assert by_id["e7"]["event_ts"] == T0 + timedelta(minutes=65)
    hour11 = list((data_dir / "events/landed/date=2026-01-01/hour=11").glob("*.parquet"))
    assert [pq.read_table(f).column("event_id").to_pylist() for f in hour11] == [["e7"]] * len(hour11)


def test_same_batch_redelivered_overwrites_its_file(redis_server, data_dir: Path) -> None:
    client = redis.Redis.from_url(redis_server.url)
    send(client, SCENARIO[:4])
    worker = make_worker(client, data_dir)
    entries = client.xrange(rk.EVENTS_STREAM)
    worker.process(entries)
    worker.process(entries)
    files = list((data_dir / "events/landed").rglob("*.parquet"))
    first, last = entries[0][0].decode(), entries[-1][0].decode()
    assert [f.name for f in files] == [f"part-{first}_{last}.parquet"]
    assert pq.read_table(files[0]).num_rows == 4
    assert not [p for p in (data_dir / "events/landed").rglob("*") if p.name.endswith(".tmp")]


def test_bad_entries_go_to_dead_letter_and_are_acked(redis_server, data_dir: Path) -> None:
    client = redis.Redis.from_url(redis_server.url)
    good = ev(1, "u1", "i1", "click", 1)
    fields = event_to_stream_fields(good)
    bad = [
        {"kind": "event", "event_id": "x1"},  # missing fields
        {**fields, "event_id": "x2", "type": "purchase"},  # unknown type
        {**fields, "event_id": "x3", "ts": "yesterday"},  # unparsable ts
        {**fields, "event_id": "x4", "value": "11"},  # out of range
        {"kind": "bogus", "a": "b"},  # unknown kind
        {"event_id": "x6"},  # no kind at all
        {b"kind": b"event", b"event_id": b"\xff\xfe"},  # not UTF-8
    ]
    client.xadd(rk.EVENTS_STREAM, fields)
    for b in bad:
        client.xadd(rk.EVENTS_STREAM, b)
    imp = Impression(
        request_id="r1", user_id="u1", item_id="i1", position=0, model_version="m1",
        variant="control", experiment="exp1", source="ann", ts=T0,
    )  # fmt: skip
    client.xadd(rk.EVENTS_STREAM, impression_to_stream_fields(imp))

    totals = make_worker(client, data_dir).run(once=True)
    assert (totals.entries, totals.events, totals.impressions, totals.dead) == (9, 1, 1, 7)
    dead = client.xrange(rk.EVENTS_DEAD_LETTER_STREAM)
    assert len(dead) == 7
    reasons = [d[1][b"reason"].decode() for d in dead]
    assert "user_id: Field required" in reasons[0]
    assert reasons[1].startswith("type:")
    assert reasons[2].startswith("ts:")
    assert reasons[3].startswith("value:")
    assert "unknown stream entry kind 'bogus'" in reasons[4]
    assert "unknown stream entry kind None" in reasons[5]
    assert "utf-8" in reasons[6]
    assert dead[1][1][b"stream_id"] == client.xrange(rk.EVENTS_STREAM)[2][0]
    assert client.xpending(rk.EVENTS_STREAM, rk.EVENTS_GROUP)["pending"] == 0
    assert [r["event_id"] for r in landed_rows(data_dir)] == ["e1"]
    imps = list((data_dir / "events/impressions").rglob("*.parquet"))
    assert [pq.read_table(f).to_pylist()[0]["experiment"] for f in imps] == ["exp1"]


# --- crash / restart with a subprocess worker ---------------------------------------------

N_CRASH = 53  # events, sent in batches of 10: the crash hits batch 3 (entries 21..30)


def crash_events() -> list[Event]:
    types = ["view", "click", "rating", "like", "not_interested"]
    return [
        ev(n, f"u{n % 4}", f"i{n % 6}", types[n % 5], n % 90, 4.0 if n % 5 == 2 else None)
        for n in range(N_CRASH)
    ]


def expected_trending(events: list[Event]) -> dict[int, dict[str, float]]:
    """Hand rule: one count per non-not_interested event, per item, per hour of its ts."""
    out: dict[int, dict[str, float]] = {}
    for e in events:
        if e.type != "not_interested":
            b = int(e.ts.timestamp()) // 3600
            out.setdefault(b, {}).setdefault(e.item_id, 0.0)
            out[b][e.item_id] += 1.0
    return out


def run_worker(python_bin: str, cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python_bin, "-m", "jobs.stream_worker", "--push", "none", "--batch", "10", "--block-ms", "50", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("step", ["after_apply", "after_land"])
def test_sigkill_mid_batch_then_restart_loses_and_double_counts_nothing(
    redis_server, data_dir: Path, tmp_path: Path, python_bin: str, step: str
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    events = crash_events()
    send(client, events)
    env = worker_env(redis_server.url, data_dir)
    crash_env = {**env, "LAMBDAREC_SPEED_CRASH_AT": step, "LAMBDAREC_SPEED_CRASH_BATCH": "3"}

    crashed = run_worker(python_bin, tmp_path, crash_env, "--once", "--consumer", "w1")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert client.xpending(rk.EVENTS_STREAM, rk.EVENTS_GROUP)["pending"] == 10  # batch 3, unacked
    if step == "after_land":  # its side effects are already there
        assert len(landed_rows(data_dir)) == 30

    resumed = run_worker(python_bin, tmp_path, env, "--once", "--consumer", "w1")
    assert resumed.returncode == 0, resumed.stderr
    # after_apply: the counters of batch 3 were applied before the crash; the resumed run sees them as done.
    expected_redelivered = 10 if step == "after_apply" else 0
    assert (
        f"events=10 (new={10 - expected_redelivered}, redelivered={expected_redelivered})" in resumed.stderr
    )

    rows = landed_rows(data_dir)
    # The re-delivered batch has the same stream ids, so its file is overwritten: no duplicate rows.
    assert len(rows) == N_CRASH
    assert sorted(r["event_id"] for r in rows) == sorted(e.event_id for e in events)
    for bucket, counts in expected_trending(events).items():
        assert zset(client, rk.trending(bucket)) == counts
    assert sum(sum(zset(client, rk.user_activity(b)).values()) for b in (BUCKET_10, BUCKET_10 + 1)) == N_CRASH
    assert client.xpending(rk.EVENTS_STREAM, rk.EVENTS_GROUP)["pending"] == 0


def test_other_consumer_claims_a_dead_consumers_pending_entries(
    redis_server, data_dir: Path, tmp_path: Path, python_bin: str
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    events = crash_events()
    send(client, events)
    env = worker_env(redis_server.url, data_dir)
    crash_env = {**env, "LAMBDAREC_SPEED_CRASH_AT": "after_apply", "LAMBDAREC_SPEED_CRASH_BATCH": "2"}
    assert run_worker(python_bin, tmp_path, crash_env, "--once", "--consumer", "dead").returncode == -9

    other = run_worker(python_bin, tmp_path, env, "--once", "--consumer", "alive", "--claim-idle-ms", "0")
    assert other.returncode == 0, other.stderr
    assert sorted({r["event_id"] for r in landed_rows(data_dir)}) == sorted(e.event_id for e in events)
    for bucket, counts in expected_trending(events).items():
        assert zset(client, rk.trending(bucket)) == counts
    consumers = {
        c["name"].decode(): c["pending"] for c in client.xinfo_consumers(rk.EVENTS_STREAM, rk.EVENTS_GROUP)
    }
    assert consumers == {"dead": 0, "alive": 0}


def test_sigterm_finishes_acks_and_exits_zero(
    redis_server, data_dir: Path, tmp_path: Path, python_bin: str
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    env = worker_env(redis_server.url, data_dir)
    proc = start_worker(python_bin, tmp_path, env)
    try:
        send(client, SCENARIO)
        wait_for_rows(data_dir, len(SCENARIO))
    finally:
        err = stop_worker(proc)
    assert proc.returncode == 0, err
    assert "stopped: batches=" in err
    assert client.xpending(rk.EVENTS_STREAM, rk.EVENTS_GROUP)["pending"] == 0
    assert len(landed_rows(data_dir)) == len(SCENARIO)


def test_worker_rides_out_a_redis_restart(
    redis_server, data_dir: Path, tmp_path: Path, python_bin: str
) -> None:
    """Redis is killed and restarted (AOF, fsync always) under a running worker: nothing lost or doubled."""
    env = worker_env(redis_server.url, data_dir)
    proc = start_worker(python_bin, tmp_path, env)
    events = crash_events()
    try:
        send(redis.Redis.from_url(redis_server.url), events[:20])
        wait_for_rows(data_dir, 20)
        redis_server.stop()
        time.sleep(1.0)  # the worker hits the outage and backs off
        redis_server.start()
        client = redis.Redis.from_url(redis_server.url)
        send(client, events[20:])
        wait_for_rows(data_dir, N_CRASH)
    finally:
        err = stop_worker(proc)
    assert proc.returncode == 0, err
    assert "Redis unavailable" in err
    assert sorted(r["event_id"] for r in landed_rows(data_dir)) == sorted(e.event_id for e in events)
    for bucket, counts in expected_trending(events).items():
        assert zset(client, rk.trending(bucket)) == counts
    assert client.xpending(rk.EVENTS_STREAM, rk.EVENTS_GROUP)["pending"] == 0


def wait_for_rows(data_dir: Path, n: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(landed_rows(data_dir)) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"worker landed {len(landed_rows(data_dir))} of {n} events in {timeout_s}s")
        time.sleep(0.1)


def test_stream_encoding_is_flat_strings_in_utc() -> None:
    """The shared encoding (lambdarec_contracts.events) that serving appends and the worker reads."""
    from datetime import timezone

    from lambdarec_contracts.events import stream_fields_to_record

    e = Event(
        event_id="e-1", user_id="u1", item_id="i1", type="rating", value=4.5,
        ts=datetime(2026, 1, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
    )  # fmt: skip
    fields = event_to_stream_fields(e)
    assert fields == {
        "kind": "event", "event_id": "e-1", "user_id": "u1", "item_id": "i1", "type": "rating",
        "value": "4.5", "ts": "2026-01-01T10:30:00.000000+00:00", "item_known": "",
    }  # fmt: skip
    naive = event_to_stream_fields(e.model_copy(update={"ts": datetime(2026, 1, 1, 10, 30), "value": None}))
    assert (naive["ts"], naive["value"]) == ("2026-01-01T10:30:00.000000+00:00", "")
    record = stream_fields_to_record({k.encode(): v.encode() for k, v in naive.items()})
    assert record["ts"] == datetime(2026, 1, 1, 10, 30, tzinfo=UTC) and record["value"] is None
    imp = Impression(
        request_id="r", user_id="u", item_id="i", position=2, model_version="m", variant="b",
        source="trending", ts=datetime(2026, 1, 1, 10, 30, tzinfo=UTC),
    )  # fmt: skip
    f = impression_to_stream_fields(imp)
    assert (f["kind"], f["position"], f["experiment"]) == ("impression", "2", "")
    assert stream_fields_to_record(f)["experiment"] is None
