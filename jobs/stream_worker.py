"""Speed-layer stream worker: ``python -m jobs.stream_worker [--consumer NAME] [--batch 500] ...``.

Consumes ``lambdarec:events`` with the ``speed-layer`` consumer group and, per batch, keeps
trending counters / recent items / seen-sets in Redis (exactly once per event id), pushes
real-time features through Feast, lands events and impressions as Parquet, then acks.
SIGTERM finishes and acks the current batch, then exits 0. A Redis outage or error is retried
with backoff (``--once`` exits 1 instead); Redis coming back empty recreates the consumer group.
``--metrics-port`` serves Prometheus metrics (consumer lag, pending, lost entries).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

import redis

from jobs.speed_layer.metrics import WorkerMetrics
from jobs.speed_layer.realtime import FeastPusher, FeaturePusher, NullPusher, feast_environment
from jobs.speed_layer.settings import SpeedLayerSettings, redact_url
from jobs.speed_layer.worker import StreamWorker, WorkerConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jobs.stream_worker", description=__doc__.splitlines()[0])
    p.add_argument(
        "--consumer",
        default=socket.gethostname(),
        help="consumer name; keep it stable across restarts so pending entries resume at once",
    )
    p.add_argument("--batch", type=int, default=500, help="entries per batch (XREADGROUP COUNT)")
    p.add_argument("--block-ms", type=int, default=1000, help="XREADGROUP BLOCK when the stream is idle")
    p.add_argument(
        "--claim-idle-ms",
        type=int,
        default=60_000,
        help="claim other consumers' entries pending longer than this (XAUTOCLAIM)",
    )
    p.add_argument("--claim-every-s", type=float, default=30.0, help="how often to look for stale entries")
    p.add_argument(
        "--push",
        choices=("feast", "none"),
        default="feast",
        help="where real-time features go (none: counters and landing only)",
    )
    p.add_argument(
        "--retain-s", type=float, default=3600.0, help="keep processed entries this long before trimming"
    )
    p.add_argument("--trim-every-s", type=float, default=10.0, help="how often to trim processed entries")
    p.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics here (0: off)")
    p.add_argument("--once", action="store_true", help="process what is in the stream, then exit")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.batch < 1 or args.block_ms < 0 or args.claim_idle_ms < 0 or args.retain_s < 0:
        p.error("--batch must be >= 1, --block-ms, --claim-idle-ms and --retain-s >= 0")
    return args  # fmt: skip


def redis_client(url: str, block_ms: int) -> redis.Redis:
    """The worker's connection: a dead peer or a half-open socket surfaces as an error, not a hang.

    The blocking read waits ``block_ms`` on the server, so the socket timeout sits above it;
    TCP keep-alive and a periodic health check catch connections a NAT or a failover dropped.
    """
    return redis.Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=block_ms / 1000.0 + 10.0,
        socket_connect_timeout=5.0,
        socket_keepalive=True,
        health_check_interval=30,
    )


def build_pusher(kind: str, settings: SpeedLayerSettings) -> FeaturePusher:
    if kind == "none":
        return NullPusher()
    os.environ.update(feast_environment(settings, os.environ))
    return FeastPusher(settings.feature_repo_dir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = SpeedLayerSettings()
    try:
        pusher = build_pusher(args.push, settings)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    client = redis_client(settings.redis_url, args.block_ms)
    metrics = WorkerMetrics()
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, registry=metrics.registry)
    config = WorkerConfig(
        consumer=args.consumer,
        events_dir=settings.events_dir,
        impressions_dir=settings.impressions_dir,
        batch=args.batch,
        block_ms=args.block_ms,
        claim_idle_ms=args.claim_idle_ms,
        claim_every_s=args.claim_every_s,
        crash_at=settings.crash_at,
        crash_on_batch=settings.crash_on_batch,
        retain_s=args.retain_s,
        trim_every_s=args.trim_every_s,
        limits=settings,
    )
    worker = StreamWorker(client, pusher, config, metrics=metrics)
    worker.install_signal_handlers()
    try:
        worker.run(once=args.once)
    except redis.RedisError as exc:
        # Only with --once (the loop otherwise retries with backoff). Unacked entries stay
        # pending: a restarted worker (same --consumer) resumes them.
        print(f"error: Redis at {redact_url(settings.redis_url)} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
