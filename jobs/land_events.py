"""Hourly landing check: ``python -m jobs.land_events --ds YYYY-MM-DD --hour HH`` (or ``--start/--end``).

Fails (exit 1, Airflow retries) while the stream worker still has entries appended before
the interval end (+ ``--grace-s``) unread or unacked; otherwise compacts each hour partition
that closes within (start, end] into one deduplicated ``compacted.parquet`` (events and
impressions) and writes a ``_SUCCESS`` marker with counts. An interval offset from whole
hours (cron "5 * * * *": [10:05, 11:05)) compacts hour 10 and waits for entries appended
up to 11:05. Idempotent: re-running rewrites the same result.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, time, timedelta

import redis

from jobs.speed_layer.completeness import Interval, LandingIncomplete, check_processed, compact_interval
from jobs.speed_layer.settings import SpeedLayerSettings, redact_url


def _utc(value: str) -> datetime:
    ts = datetime.fromisoformat(value)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def parse_interval(args: argparse.Namespace) -> Interval:
    if args.ds is not None:
        if args.start or args.end:
            raise ValueError("give either --ds/--hour or --start/--end")
        day = date.fromisoformat(args.ds)
        if args.hour is None:
            start = datetime.combine(day, time(0), UTC)
            return Interval(start, start + timedelta(days=1))
        if not 0 <= args.hour <= 23:
            raise ValueError(f"--hour must be 0..23, got {args.hour}")
        start = datetime.combine(day, time(args.hour), UTC)
        return Interval(start, start + timedelta(hours=1))
    if args.start and args.end:
        return Interval(_utc(args.start), _utc(args.end))
    raise ValueError("give --ds (with --hour for one hour) or both --start and --end")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jobs.land_events", description=__doc__.splitlines()[0])
    p.add_argument("--ds", help="data interval date YYYY-MM-DD (the whole day without --hour)")
    p.add_argument("--hour", type=int, help="hour 0..23 of --ds")
    p.add_argument("--start", help="interval start, ISO-8601 (UTC if no offset)")
    p.add_argument("--end", help="interval end (exclusive), ISO-8601")
    p.add_argument(
        "--grace-s",
        type=float,
        default=0.0,
        help="also require entries appended up to this long after the end to be processed",
    )
    return p.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None, now: datetime | None = None) -> int:
    args = parse_args(argv)
    try:
        interval = parse_interval(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = SpeedLayerSettings()
    cutoff = interval.end + timedelta(seconds=args.grace_s)
    now = now or datetime.now(UTC)
    if cutoff > now:
        print(f"error: interval not closed yet: cutoff {cutoff.isoformat()} is after now {now.isoformat()}",
              file=sys.stderr)  # fmt: skip
        return 1
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=30, socket_connect_timeout=5)
    try:
        check_processed(client, cutoff)
    except LandingIncomplete as exc:
        print(f"error: {exc}; retry later", file=sys.stderr)
        return 1
    except redis.RedisError as exc:
        print(f"error: Redis at {redact_url(settings.redis_url)} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    markers = compact_interval(settings.events_dir, settings.impressions_dir, interval)
    print(json.dumps({"interval_start": interval.start.isoformat(), "interval_end": interval.end.isoformat(),
                      "partitions": markers}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
