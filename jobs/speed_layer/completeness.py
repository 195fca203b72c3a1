"""The hourly landing check: is the worker done with an interval, then compact it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from .landing import compact_partition, hours_between, partition_dir
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
        if self.start.minute or self.start.second or self.start.microsecond or (self.end - self.start) % timedelta(
            hours=1
        ):
            raise ValueError("interval must cover whole hours (landing partitions are hourly)")


def backlog_message(backlog: Backlog, cutoff: datetime) -> str:
    parts = []
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
    return f"speed layer is behind for entries appended before {cutoff.isoformat()}: " + "; ".join(parts)


def check_processed(client: redis.Redis, cutoff: datetime) -> Backlog:
    """Raise ``LandingIncomplete`` unless every entry appended before ``cutoff`` is processed and acked."""
    backlog = backlog_before(client, int(cutoff.timestamp() * 1000))
    if not backlog.clear:
        raise LandingIncomplete(backlog_message(backlog, cutoff))
    return backlog


def compact_interval(events_dir: Path, impressions_dir: Path, interval: Interval) -> list[dict[str, Any]]:
    """Compact every hour partition of the interval (events and impressions); returns the markers."""
    markers = []
    for date, hour in hours_between(interval.start, interval.end):
        base = {"date": date, "hour": hour, "interval_start": interval.start.isoformat(),
                "interval_end": interval.end.isoformat()}  # fmt: skip
        markers.append(compact_partition(partition_dir(events_dir, date, hour), "events", base))
        markers.append(compact_partition(partition_dir(impressions_dir, date, hour), "impressions", base))
    return markers
