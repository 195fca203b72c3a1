"""Hourly landing check: completeness against the consumer group, compaction, _SUCCESS markers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from jobs import land_events
from jobs.speed_layer.realtime import NullPusher
from jobs.speed_layer.worker import StreamWorker, WorkerConfig
from lambdarec_contracts import redis_keys as rk
from lambdarec_contracts.events import Event, event_to_stream_fields

HOUR10 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
LATER = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)  # "now" for the CLI: hour 10 is closed
PARTITION = Path("date=2026-01-01/hour=10")


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def append(client: redis.Redis, n: int, event_ts: datetime, appended_at: datetime) -> None:
    """XADD with an explicit stream id, so 'when it was appended' is part of the test data."""
    e = Event(event_id=f"e{n}", user_id=f"u{n % 3}", item_id=f"i{n % 5}", type="click", ts=event_ts)
    client.xadd(rk.EVENTS_STREAM, event_to_stream_fields(e), id=f"{ms(appended_at)}-0")


def worker(client: redis.Redis, data_dir: Path, consumer: str = "w") -> StreamWorker:
    cfg = WorkerConfig(
        consumer=consumer, events_dir=data_dir / "events" / "landed",
        impressions_dir=data_dir / "events" / "impressions", batch=4, block_ms=10,
    )  # fmt: skip
    return StreamWorker(client, NullPusher(), cfg)


def run_cli(*args: str) -> int:
    return land_events.main(list(args), now=LATER)


@pytest.mark.redis
def test_check_fails_while_worker_is_behind_then_passes_and_compacts(
    redis_server, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    # 6 events appended during hour 10 (ts = append time), one late event of hour 10 appended at
    # 11:00:30 (inside a 60 s grace), one event of hour 11 appended at 11:20 (not needed for hour 10).
    for n in range(6):
        t = HOUR10 + timedelta(minutes=10 * n, seconds=1)
        append(client, n, t, t)
    append(client, 6, HOUR10 + timedelta(minutes=59), HOUR10 + timedelta(minutes=60, seconds=30))
    append(client, 7, HOUR10 + timedelta(minutes=80), HOUR10 + timedelta(minutes=80))

    # No consumer group yet: the worker never ran.
    assert run_cli("--ds", "2026-01-01", "--hour", "10") == 1
    err = capsys.readouterr().err
    assert "consumer group missing" in err and "6 entries unread" in err and "retry later" in err

    # A consumer read 4 entries and died before acking: 4 pending + 2 unread before 11:00.
    w = worker(client, data_dir, consumer="crashed")
    w.client.xgroup_create(rk.EVENTS_STREAM, rk.EVENTS_GROUP, id="0")
    client.xreadgroup(rk.EVENTS_GROUP, "crashed", {rk.EVENTS_STREAM: ">"}, count=4)
    assert run_cli("--ds", "2026-01-01", "--hour", "10") == 1
    err = capsys.readouterr().err
    assert "2 entries not yet read" in err and "4 entries read but not acked" in err and "crashed" in err
    assert not (data_dir / "events/landed" / PARTITION / "_SUCCESS").exists()

    # The dead consumer's entries are claimed and everything is processed.
    cfg = w.config.__class__(**{**w.config.__dict__, "consumer": "w2", "claim_idle_ms": 0})
    StreamWorker(client, NullPusher(), cfg).run(once=True)
    assert run_cli("--ds", "2026-01-01", "--hour", "10", "--grace-s", "60") == 0
    out = json.loads(capsys.readouterr().out)
    events_marker = out["partitions"][0]
    assert (events_marker["kind"], events_marker["rows"], events_marker["by_event_type"]) == (
        "events",
        7,
        {"click": 7},
    )
    part = data_dir / "events/landed" / PARTITION
    assert sorted(p.name for p in part.iterdir()) == ["_SUCCESS", "compacted.parquet"]
    table = pq.read_table(part / "compacted.parquet")
    assert table.column("event_id").to_pylist() == [f"e{n}" for n in range(6)] + ["e6"]
    assert json.loads((part / "_SUCCESS").read_text())["rows"] == 7
    # hour 11 is untouched: its event is still in the worker's batch file
    assert [
        p.name.startswith("part-") for p in (data_dir / "events/landed/date=2026-01-01/hour=11").iterdir()
    ] == [True]


@pytest.mark.redis
def test_offset_interval_of_the_hourly_dag_compacts_the_hour_it_covers(
    redis_server, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """land_events_hourly runs on cron "5 * * * *": its data interval is [10:05, 11:05)."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    append(client, 1, HOUR10 + timedelta(minutes=1), HOUR10 + timedelta(minutes=1))
    append(client, 2, HOUR10 + timedelta(minutes=59), HOUR10 + timedelta(minutes=62))  # late, before 11:05
    worker(client, data_dir).run(once=True)
    append(client, 3, HOUR10 + timedelta(minutes=59), HOUR10 + timedelta(minutes=64))  # late and unread
    dag_args = ("--start", "2026-01-01T10:05:00+00:00", "--end", "2026-01-01T11:05:00+00:00")
    assert run_cli(*dag_args) == 1
    assert "1 entries not yet read" in capsys.readouterr().err
    worker(client, data_dir).run(once=True)
    assert run_cli(*dag_args) == 0
    markers = json.loads(capsys.readouterr().out)["partitions"]
    assert [(m["date"], m["hour"], m["kind"], m["rows"]) for m in markers] == [
        ("2026-01-01", "10", "events", 3),
        ("2026-01-01", "10", "impressions", 0),
    ]


@pytest.mark.redis
def test_check_counts_entries_appended_in_grace_period(
    redis_server, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    append(client, 1, HOUR10, HOUR10 + timedelta(minutes=5))
    worker(client, data_dir).run(once=True)
    append(client, 2, HOUR10 + timedelta(minutes=59), HOUR10 + timedelta(minutes=60, seconds=30))
    assert run_cli("--ds", "2026-01-01", "--hour", "10") == 0  # without grace, the late entry is not awaited
    capsys.readouterr()
    assert run_cli("--ds", "2026-01-01", "--hour", "10", "--grace-s", "60") == 1
    assert "1 entries not yet read" in capsys.readouterr().err


def test_bad_arguments_and_open_interval_fail_cleanly(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("--ds", "2026-01-01", "--hour", "24") == 2
    assert "--hour must be 0..23" in capsys.readouterr().err
    assert run_cli("--start", "2026-01-01T11:00", "--end", "2026-01-01T10:00") == 2
    assert "empty interval" in capsys.readouterr().err
    assert run_cli("--ds", "2026-01-01", "--start", "2026-01-01T10:00") == 2
    assert run_cli("--ds", "2026-01-01", "--hour", "12") == 1  # now is 12:30
    assert "interval not closed yet" in capsys.readouterr().err


def landed(event_ids: list[str], ingested: datetime, minute: int = 5) -> pa.Table:
    from jobs.speed_layer.records import EVENTS_SCHEMA

    n = len(event_ids)
    return pa.table(
        {
            "event_id": event_ids, "user_id": ["u"] * n, "item_id": ["i"] * n, "event_type": ["view"] * n,
            "value": [None] * n, "event_ts": [HOUR10 + timedelta(minutes=minute + k) for k in range(n)],
            "ingested_at": [ingested] * n,
        },
        schema=EVENTS_SCHEMA,
    )  # fmt: skip


def test_compaction_dedupes_and_is_idempotent(data_dir: Path) -> None:
    from jobs.speed_layer.completeness import Interval, compact_interval

    part = data_dir / "events/landed" / PARTITION
    part.mkdir(parents=True)
    t = HOUR10 + timedelta(hours=1)
    # a batch and its re-delivery cut at other boundaries (e2, e3 twice), plus a stray temp file
    pq.write_table(landed(["e1", "e2", "e3"], t), part / "part-1-0_3-0.parquet")
    pq.write_table(
        landed(["e2", "e3", "e4"], t + timedelta(seconds=5), minute=6), part / "part-2-0_4-0.parquet"
    )
    (part / ".part-9-0_9-0.parquet.abc.tmp").write_bytes(b"partial")
    interval = Interval(HOUR10, HOUR10 + timedelta(hours=1))
    events_dir, imps_dir = data_dir / "events/landed", data_dir / "events/impressions"

    first = compact_interval(events_dir, imps_dir, interval)[0]
    assert (first["input_files"], first["input_rows"], first["rows"], first["duplicates_dropped"]) == (
        2,
        6,
        4,
        2,
    )
    table = pq.read_table(part / "compacted.parquet")
    assert table.column("event_id").to_pylist() == ["e1", "e2", "e3", "e4"]
    # the first landing of e2/e3 is kept (ingested at t, not t + 5 s); e4 only came in the second file
    assert table.column("ingested_at").to_pylist() == [t, t, t, t + timedelta(seconds=5)]
    assert table.schema.field("event_ts").type == pa.timestamp("us", tz="UTC")

    second = compact_interval(events_dir, imps_dir, interval)[0]
    assert (second["input_files"], second["input_rows"], second["rows"], second["duplicates_dropped"]) == (
        1,
        4,
        4,
        0,
    )
    assert pq.read_table(part / "compacted.parquet").equals(table)
    assert sorted(p.name for p in part.iterdir() if not p.name.endswith(".tmp")) == [
        "_SUCCESS",
        "compacted.parquet",
    ]

    # a late file landed after compaction is merged by the next run
    pq.write_table(landed(["e4", "e5"], t + timedelta(minutes=9), minute=40), part / "part-5-0_6-0.parquet")
    third = compact_interval(events_dir, imps_dir, interval)[0]
    assert (third["rows"], third["duplicates_dropped"]) == (5, 1)
    assert pq.read_table(part / "compacted.parquet").column("event_id").to_pylist() == [
        "e1",
        "e2",
        "e3",
        "e4",
        "e5",
    ]
