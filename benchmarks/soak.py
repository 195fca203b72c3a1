"""Soak: events posted with retries through the real API while the worker and Redis are killed.

    python -m benchmarks.soak [--events 100000] [--worker-kills 10] [--redis-restarts 2]

A real uvicorn (serving env) and a real ``jobs.stream_worker`` (pipeline env) run against a
throw-away Redis with an append-only file (fsync always). A client posts batches of new events
and retries each batch as is until it gets a 202; meanwhile the worker is SIGKILLed (and
restarted, as its supervisor would) and Redis is killed and restarted from its AOF. At the end
everything is drained and counted:

    posted          distinct events the client sent
    accepted        distinct events the API answered 202 for (first answer or a retry's)
    landed          distinct event ids in the landed Parquet files
    dead-lettered   entries on the dead-letter stream
    double-counted  worker counter increments beyond one per accepted event (user activity)
    lost            accepted events that never landed, or that no counter saw

lost and double-counted must be exactly 0. Printed, never asserted (tests/serving/test_serving_faults.py
holds the short version to its promise).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import redis

from benchmarks.common import table
from lambdarec_contracts import redis_keys as rk
from testing_support.bundle_builder import build_bundle, publish
from testing_support.faults import (
    EventLoad,
    RecommendationLoad,
    ServingProcess,
    WorkerProcess,
    landed_event_ids,
)
from testing_support.redis_server import RedisServer


def _activity_total(client: redis.Redis) -> int:
    """Sum of every user_activity hour bucket: the worker adds exactly 1 per event it applies."""
    total = 0.0
    for key in client.scan_iter(match=rk.user_activity(0).rsplit(":", 1)[0] + ":*", count=1000):
        total += sum(score for _, score in client.zrange(key, 0, -1, withscores=True))
    return int(total)


def soak(events: int, worker_kills: int, redis_restarts: int, workdir: Path) -> dict[str, object]:
    data_dir = workdir / "data"
    models = data_dir / "models"
    (models / "bundles").mkdir(parents=True)
    publish(models, build_bundle(models / "bundles"))
    rdir = workdir / "redis"
    rdir.mkdir()
    server = RedisServer(rdir, durable=True)
    server.start()
    serving = ServingProcess(data_dir, server.url, workdir / "serving.log")
    worker = WorkerProcess(data_dir, server.url, workdir / "worker.log", batch=500)
    serving.start()
    worker.start()
    t0 = time.perf_counter()
    restarts = 0
    load = EventLoad(serving.url, batch=100, max_retry_s=300)
    load.target = events
    try:
        with RecommendationLoad(serving.url) as recs, load:
            # Faults spread over the run: worker kills at even steps, Redis restarts between them.
            kill_at = [events * (k + 1) // (worker_kills + 1) for k in range(worker_kills)]
            restart_at = [events * (k + 1) // (redis_restarts + 1) + events // (4 * (worker_kills + 1))
                          for k in range(redis_restarts)]  # fmt: skip
            plan = sorted([(n, "worker") for n in kill_at] + [(n, "redis") for n in restart_at])
            for at, what in plan:
                load.wait_posted(at, timeout_s=1800)
                if what == "worker":
                    worker.kill()
                    worker.start()
                else:
                    server.stop()
                    time.sleep(1.0)
                    server.start()
                    restarts += 1
            while load._thread.is_alive():  # noqa: SLF001 - wait for the last batches (and retries)
                time.sleep(0.2)
        post_s = time.perf_counter() - t0
        stats = load.stats
        deadline = time.monotonic() + 600
        landed = landed_event_ids(data_dir)
        while not stats.accepted_ids <= set(landed) and time.monotonic() < deadline:
            time.sleep(1.0)
            landed = landed_event_ids(data_dir)
        drain_s = time.perf_counter() - t0 - post_s
        client = redis.Redis.from_url(server.url)
        counted = _activity_total(client)
        dead = client.xlen(rk.EVENTS_DEAD_LETTER_STREAM)
        pending = client.xpending(rk.EVENTS_STREAM, rk.EVENTS_GROUP)["pending"]
        client.close()
    finally:
        code = worker.stop()
        serving.stop()
        server.stop()
    accepted = len(stats.accepted_ids)
    not_landed = len(stats.accepted_ids - set(landed))
    return {
        "posted": stats.posted,
        "accepted": accepted,
        "landed": len(set(landed) & stats.accepted_ids),
        "landed_rows": sum(landed.values()),
        "dead_lettered": dead,
        "double_counted": max(0, counted - accepted),
        "lost": max(not_landed, accepted - counted),
        "foreign_landed": len(set(landed) - stats.accepted_ids),
        "duplicate_answers": stats.duplicates,
        "http_attempts": stats.attempts,
        "retries": stats.retries,
        "gave_up": stats.gave_up,
        "statuses": dict(stats.statuses),
        "worker_kills": worker.kills,
        "redis_restarts": restarts,
        "pending_after": pending,
        "worker_exit": code,
        "post_s": round(post_s, 1),
        "drain_s": round(drain_s, 1),
        "events_per_s": round(stats.posted / post_s) if post_s else 0,
        "rec_requests": len(recs.probes),
        "rec_non_200": sum(1 for p in recs.probes if p.status != 200),
        "rec_degraded": sum(1 for p in recs.probes if p.degraded),
    }


def run(events: int = 100_000, worker_kills: int = 10, redis_restarts: int = 2) -> str:
    with tempfile.TemporaryDirectory(prefix="lambdarec-soak-") as tmp:
        r = soak(events, worker_kills, redis_restarts, Path(tmp))
    main_rows = [
        [k, r[k]] for k in ("posted", "accepted", "landed", "dead_lettered", "double_counted", "lost")
    ]
    detail = [[k, v] for k, v in r.items() if k not in dict(main_rows)]
    verdict = "OK" if r["lost"] == 0 and r["double_counted"] == 0 else "FAILED"
    return "\n".join(
        [
            table(
                f"soak: events through the API under faults ({verdict}: lost = 0 and double-counted = 0)",
                ["count", "value"],
                main_rows,
            ),  # fmt: skip
            table("soak: details", ["figure", "value"], detail),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--worker-kills", type=int, default=10)
    ap.add_argument("--redis-restarts", type=int, default=2)
    args = ap.parse_args(argv)
    print(run(args.events, args.worker_kills, args.redis_restarts))
    return 0


if __name__ == "__main__":
    threading.excepthook = lambda a: print(f"thread {a.thread}: {a.exc_value!r}")  # type: ignore[assignment]
    raise SystemExit(main())
