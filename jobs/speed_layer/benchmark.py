"""Worker throughput on a real Redis: ``python -m jobs.speed_layer.benchmark [--events 20000]``.

Prints figures only (no thresholds). Uses REDIS_URL and LAMBDAREC_DATA_DIR: point them at a
scratch Redis database and directory, because it writes to the events stream and lands files.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import UTC, datetime, timedelta

import redis

from lambdarec_contracts import redis_keys as rk
from lambdarec_contracts.events import EVENT_TYPES, Event, event_to_stream_fields

from .realtime import FeastPusher, FeaturePusher, NullPusher, feast_environment
from .settings import SpeedLayerSettings
from .worker import StreamWorker, WorkerConfig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.speed_layer.benchmark")
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--items", type=int, default=5000)
    p.add_argument(
        "--push", choices=("none", "feast"), default="none", help="feast: needs `feast apply` first"
    )
    args = p.parse_args(argv)
    settings = SpeedLayerSettings()
    client = redis.Redis.from_url(settings.redis_url)
    run_id = f"bench{int(time.time())}"
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for n in range(args.events):
        t = EVENT_TYPES[n % len(EVENT_TYPES)]
        e = Event(
            event_id=f"{run_id}-{n}", user_id=f"u{n % args.users}", item_id=f"i{(n * 7) % args.items}",
            type=t, value=4.0 if t == "rating" else None, ts=now - timedelta(milliseconds=n),
        )  # fmt: skip
        pipe.xadd(rk.EVENTS_STREAM, event_to_stream_fields(e))
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()
    t_send = time.perf_counter() - t0
    cfg = WorkerConfig(
        consumer=run_id, events_dir=settings.events_dir, impressions_dir=settings.impressions_dir,
        batch=args.batch, block_ms=0,
    )  # fmt: skip
    logging.basicConfig(level=logging.WARNING)
    pusher: FeaturePusher = NullPusher()
    if args.push == "feast":
        os.environ.update(feast_environment(settings, os.environ))
        pusher = FeastPusher(settings.feature_repo_dir)
    worker = StreamWorker(client, pusher, cfg)
    t0 = time.perf_counter()
    totals = worker.run(once=True)
    t_work = time.perf_counter() - t0
    print(f"appended {args.events} events in {t_send:.2f}s ({args.events / t_send:,.0f}/s)")
    print(
        f"worker (push {args.push}, batch {args.batch}): {totals.events} events, {totals.batches} batches in "
        f"{t_work:.2f}s -> {totals.events / t_work:,.0f} events/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
