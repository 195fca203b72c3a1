"""The hourly landing check: is the worker done with an interval, then compact it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from lambdarec_contracts import redis_keys as rk

from .landing import compact_partition, partition_dir
from .stream import Backlog, backlog_before


class LandingIncomplete(RuntimeError):
    """The worker has not processed everything appended before the interval's cutoff (retry later)."""


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval bounds must be timezone-aware")
        if not self.start < self.end:
            raise ValueError(f"empty interval: start {self.start.isoformat()} >= end {self.end.isoformat()}")


def backlog_message(backlog: Backlog, cutoff: datetime) -> str:
    parts: list[str] = []
    if not backlog.group_exists:
        parts.append(f"consumer group missing: the worker never ran, {backlog.undelivered} entries unread")
    else:
        if backlog.undelivered:
            parts.append(f"{backlog.undelivered} entries not yet read by the consumer group")
        if backlog.pending:
            parts.append(
                f"{backlog.pending} entries read but not acked (oldest {backlog.oldest_pending_id}, "
                f"consumers {', '.join(backlog.pending_consumers)})"
            )
    return (
        f"speed layer is behind for entries appended before {cutoff.isoformat()}: {backlog.stream}: "
        + "; ".join(parts)
    )


def check_processed(client: redis.Redis, cutoff: datetime) -> list[Backlog]:
    """Raise ``LandingIncomplete`` unless every entry of every stream (events, impressions)
    appended before ``cutoff`` is processed and acked."""
    cutoff_ms = int(cutoff.timestamp() * 1000)
    backlogs = [backlog_before(client, cutoff_ms, stream=s) for s in rk.STREAMS]
    behind = [backlog_message(b, cutoff) for b in backlogs if not b.clear]
    if behind:
        raise LandingIncomplete("; ".join(behind))
    return backlogs


def hours_closing_in(start: datetime, end: datetime) -> list[tuple[str, str]]:
    """The (date, hour) partitions whose hour ends within (start, end].

    Whole-hour intervals give their own hours; an offset schedule such as cron "5 * * * *"
    ([10:05, 11:05)) gives hour 10, which it covers with 5 minutes to spare.
    """
    t = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)  # the hour holding start
    out: list[tuple[str, str]] = []
    while t + timedelta(hours=1) <= end:
        out.append((t.strftime("%Y-%m-%d"), t.strftime("%H")))
        t += timedelta(hours=1)
    return out


def compact_interval(events_dir: Path, impressions_dir: Path, interval: Interval) -> list[dict[str, Any]]:
    """Compact the hour partitions that close within the interval (events and impressions)."""
    markers = []
    for date, hour in hours_closing_in(interval.start, interval.end):
        base = {"date": date, "hour": hour, "interval_start": interval.start.isoformat(),
                "interval_end": interval.end.isoformat()}  # fmt: skip
        markers.append(compact_partition(partition_dir(events_dir, date, hour), "events", base))
        markers.append(compact_partition(partition_dir(impressions_dir, date, hour), "impressions", base))
    return markers
