"""The stream worker loop: read -> apply counters -> push features -> land Parquet -> XACK.

Delivery is at-least-once (an entry is acked only after every side effect is durable);
each side effect is idempotent, so a crash anywhere before the ack and the re-delivery
that follows lose nothing and count nothing twice:
  counters: one Lua script guarded by SET NX event_applied(event_id);
  features: recomputed from the counters and overwritten in the online store;
  landing:  the batch file name comes from its stream ids (overwrite) and readers dedupe.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from . import stream
from .counters import CounterStore
from .landing import batch_file_name, partition_dir, write_atomic
from .realtime import FeaturePusher, realtime_frames
from .records import ParsedBatch, by_partition, events_table, impressions_table, parse_entries, stream_id_key
from .settings import CrashPoint

log = logging.getLogger("jobs.stream_worker")


@dataclass(frozen=True)
class WorkerConfig:
    consumer: str
    events_dir: Path
    impressions_dir: Path
    batch: int = 500
    block_ms: int = 1000
    claim_idle_ms: int = 60_000
    claim_every_s: float = 30.0
    crash_at: CrashPoint | None = None
    crash_on_batch: int = 1


@dataclass
class BatchResult:
    entries: int
    events: int
    impressions: int
    dead: int
    applied: int
    files: int
    seconds: float


@dataclass
class WorkerTotals:
    batches: int = 0
    entries: int = 0
    events: int = 0
    impressions: int = 0
    dead: int = 0
    applied: int = 0
    push_failures: int = 0
    redis_errors: int = 0
    history: list[BatchResult] = field(default_factory=list, repr=False)


class StreamWorker:
    """Consumes ``EVENTS_STREAM`` as one consumer of ``EVENTS_GROUP``."""

    def __init__(
        self,
        client: redis.Redis,
        pusher: FeaturePusher,
        config: WorkerConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.pusher = pusher
        self.config = config
        self.clock = clock
        self.counters = CounterStore(client)
        self.totals = WorkerTotals()
        self._stopping = False
        self._pending_done = False
        self._claim_cursor = "0-0"
        self._next_claim = 0.0

    # --- control ---
    def request_stop(self, *_: Any) -> None:
        """SIGTERM/SIGINT: finish (and ack) the current batch, then leave the loop."""
        self._stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    # --- loop ---
    def run(self, once: bool = False) -> WorkerTotals:
        """Process batches until stopped (or, with ``once``, until nothing is left to read)."""
        group_ready = False
        backoff = 0.5
        while not self._stopping:
            try:
                if not group_ready:
                    stream.ensure_group(self.client)
                    group_ready = True
                entries = self._next_entries(block=not once)
                if entries:
                    self.process(entries)
                elif once:
                    break
                backoff = 0.5
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if once:
                    raise
                # The batch in flight is unacked, so it is re-delivered: read our own pending first.
                self._pending_done = False
                self.totals.redis_errors += 1
                log.warning("Redis unavailable (%s); retrying in %.1fs", exc, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        log.info(
            "stopped: batches=%d entries=%d events=%d impressions=%d dead=%d applied=%d push_failures=%d "
            "redis_errors=%d",
            self.totals.batches, self.totals.entries, self.totals.events, self.totals.impressions,
            self.totals.dead, self.totals.applied, self.totals.push_failures, self.totals.redis_errors,
        )  # fmt: skip
        return self.totals

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up promptly on SIGTERM."""
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))

    def _next_entries(self, block: bool) -> stream.Entries:
        cfg = self.config
        # 1. what this consumer name was given before a crash and never acked
        if not self._pending_done:
            entries = stream.read_own_pending(self.client, cfg.consumer, cfg.batch)
            if entries:
                return entries
            self._pending_done = True
        # 2. what dead consumers left behind (on start, then every claim_every_s)
        if time.monotonic() >= self._next_claim:
            cursor, entries = stream.autoclaim(
                self.client, cfg.consumer, cfg.claim_idle_ms, cfg.batch, self._claim_cursor
            )
            self._claim_cursor = cursor
            if cursor == "0-0":  # full scan of the pending list done: rest until the next period
                self._next_claim = time.monotonic() + cfg.claim_every_s
            if entries:
                return entries
        # 3. new entries
        return stream.read_new(self.client, cfg.consumer, cfg.batch, cfg.block_ms if block else None)

    def _crash_point(self, step: CrashPoint) -> None:
        if self.config.crash_at == step and self.totals.batches + 1 == self.config.crash_on_batch:
            log.warning("test hook: SIGKILL at %s of batch %d", step, self.totals.batches + 1)
            os.kill(os.getpid(), signal.SIGKILL)

    def process(self, entries: stream.Entries) -> BatchResult:
        """One batch: every side effect, then the ack."""
        t0 = time.perf_counter()
        batch = parse_entries(entries)
        self._crash_point("after_read")
        stream.dead_letter(self.client, batch.dead)
        applied = self.counters.apply(batch.events)
        self._crash_point("after_apply")
        self._push(batch)
        self._crash_point("after_push")
        files = self.land(batch)
        self._crash_point("after_land")
        stream.ack(self.client, batch.ids)
        result = BatchResult(
            entries=len(batch.ids),
            events=len(batch.events),
            impressions=len(batch.impressions),
            dead=len(batch.dead),
            applied=applied,
            files=files,
            seconds=time.perf_counter() - t0,
        )
        self._record(result, batch)
        return result

    def _push(self, batch: ParsedBatch) -> None:
        if not batch.events or not self.pusher.enabled:
            return
        users = [e["user_id"] for e in batch.events]
        items = [e["item_id"] for e in batch.events]
        user_df, item_df = realtime_frames(self.client, users, items, self.clock())
        try:
            self.pusher.push(user_df, item_df)
        except Exception:
            # Real-time features are derived state (recomputed from the counters by the user's
            # next event), so a failing online store must not stall counting and landing.
            self.totals.push_failures += 1
            log.exception("feature push failed for %d users / %d items", len(user_df), len(item_df))

    def land(self, batch: ParsedBatch) -> int:
        """Write the batch's events and impressions, one file per (date, hour) partition."""
        if not batch.ids:
            return 0
        now = self.clock()
        name = batch_file_name(batch.first_id, batch.last_id)
        files = 0
        for (date, hour), rows in by_partition(batch.events).items():
            write_atomic(events_table(rows, now), partition_dir(self.config.events_dir, date, hour) / name)
            files += 1
        for (date, hour), rows in by_partition(batch.impressions).items():
            write_atomic(
                impressions_table(rows, now), partition_dir(self.config.impressions_dir, date, hour) / name
            )
            files += 1
        return files

    def _record(self, r: BatchResult, batch: ParsedBatch) -> None:
        t = self.totals
        t.batches += 1
        t.entries += r.entries
        t.events += r.events
        t.impressions += r.impressions
        t.dead += r.dead
        t.applied += r.applied
        state = stream.group_state(self.client)
        age_s = (self.clock().timestamp() * 1000 - stream_id_key(batch.last_id)[0]) / 1000.0
        log.info(
            "batch %d: entries=%d events=%d (new=%d, redelivered=%d) impressions=%d dead=%d files=%d "
            "%.0fms lag=%s pending=%s last_entry_age=%.1fs",
            t.batches, r.entries, r.events, r.applied, r.events - r.applied, r.impressions, r.dead, r.files,
            r.seconds * 1000, state.lag, state.pending, age_s,
        )  # fmt: skip
