"""The stream worker loop: read -> apply counters -> push features -> land Parquet -> XACK -> trim.

It reads the events and the impressions streams (one batch holds entries of one stream).
Delivery is at-least-once (an entry is acked only after every side effect is durable);
each side effect is idempotent, so a crash anywhere before the ack and the re-delivery
that follows lose nothing and count nothing twice:
  counters: the contracts' event script (lambdarec_contracts.user_state, shared with serving),
            guarded by SET NX event_applied(event_id);
  features: recomputed from the counters and overwritten in the online store;
  landing:  the batch file name comes from its stream ids (overwrite), fsynced before the ack,
            and readers dedupe.
Trimming keeps everything the group has not acknowledged. Redis restarting without its data
(NOGROUP) recreates the group; any other Redis error backs off and retries.
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

from lambdarec_contracts import redis_keys as rk
from lambdarec_contracts.user_state import EventWriter, UserStateLimits

from . import stream
from .landing import batch_file_name, partition_dir, write_atomic
from .metrics import WorkerMetrics
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
    # Processed entries younger than this stay on the stream (inspection, other readers).
    retain_s: float = 3600.0
    trim_every_s: float = 10.0
    limits: UserStateLimits = field(default_factory=UserStateLimits)


@dataclass
class BatchResult:
    entries: int
    events: int
    impressions: int
    dead: int
    applied: int
    files: int
    seconds: float
    lost: int = 0


@dataclass
class WorkerTotals:
    batches: int = 0
    entries: int = 0
    events: int = 0
    impressions: int = 0
    dead: int = 0
    applied: int = 0
    lost: int = 0
    trimmed: int = 0
    push_failures: int = 0
    redis_errors: int = 0
    groups_recreated: int = 0
    history: list[BatchResult] = field(default_factory=list, repr=False)


class StreamWorker:
    """Consumes ``EVENTS_STREAM`` as one consumer of ``EVENTS_GROUP``."""

    def __init__(
        self,
        client: redis.Redis,
        pusher: FeaturePusher,
        config: WorkerConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.client = client
        self.pusher = pusher
        self.config = config
        self.clock = clock
        self.writer = EventWriter(config.limits)
        self.metrics = metrics or WorkerMetrics()
        self.totals = WorkerTotals()
        self._stopping = False
        self._pending_done = False
        self._claim_cursor = dict.fromkeys(rk.STREAMS, "0-0")
        self._next_claim = 0.0
        self._next_trim = 0.0

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
                    stream.ensure_groups(self.client)
                    group_ready = True
                batches = self._next_entries(block=not once)
                for name, entries in batches.items():
                    self.process(entries, name)
                self._maybe_trim()
                if not batches and once:
                    break
                backoff = 0.5
            except redis.ResponseError as exc:
                if stream.is_nogroup(exc):
                    # Redis came back without its data (or the group was deleted): recreate the
                    # group and read from the start of whatever the stream now holds.
                    log.warning("consumer group missing (%s); recreating it", exc)
                    group_ready = False
                    self._reset_cursors()
                    self.totals.groups_recreated += 1
                    self.metrics.group_recreated.inc()
                    continue
                backoff = self._redis_error(exc, once, backoff)
            except redis.RedisError as exc:  # connection, timeout, OOM, READONLY, LOADING, ...
                backoff = self._redis_error(exc, once, backoff)
        log.info(
            "stopped: batches=%d entries=%d events=%d impressions=%d dead=%d applied=%d lost=%d trimmed=%d "
            "push_failures=%d redis_errors=%d groups_recreated=%d",
            self.totals.batches, self.totals.entries, self.totals.events, self.totals.impressions,
            self.totals.dead, self.totals.applied, self.totals.lost, self.totals.trimmed,
            self.totals.push_failures, self.totals.redis_errors, self.totals.groups_recreated,
        )  # fmt: skip
        return self.totals

    def _reset_cursors(self) -> None:
        self._pending_done = False
        self._claim_cursor = dict.fromkeys(rk.STREAMS, "0-0")
        self._next_claim = 0.0

    def _redis_error(self, exc: redis.RedisError, once: bool, backoff: float) -> float:
        if once:
            raise exc
        # The batch in flight is unacked, so it is re-delivered: read our own pending first.
        self._reset_cursors()
        self.totals.redis_errors += 1
        self.metrics.redis_errors.inc()
        log.warning("Redis unavailable (%s); retrying in %.1fs", type(exc).__name__, backoff)
        self._sleep(backoff)
        return min(backoff * 2, 30.0)

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up promptly on SIGTERM."""
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))

    def _next_entries(self, block: bool) -> dict[str, stream.Entries]:
        cfg = self.config
        # 1. what this consumer name was given before a crash and never acked
        if not self._pending_done:
            batches = stream.read_own_pending(self.client, cfg.consumer, cfg.batch)
            if batches:
                return batches
            self._pending_done = True
        # 2. what dead consumers left behind (on start, then every claim_every_s)
        if time.monotonic() >= self._next_claim:
            claimed: dict[str, stream.Entries] = {}
            for name in rk.STREAMS:
                cursor, entries = stream.autoclaim(
                    self.client, cfg.consumer, cfg.claim_idle_ms, cfg.batch, self._claim_cursor[name], name
                )
                self._claim_cursor[name] = cursor
                if entries:
                    claimed[name] = entries
            if all(c == "0-0" for c in self._claim_cursor.values()):
                # full scan of the pending lists done: rest until the next period
                self._next_claim = time.monotonic() + cfg.claim_every_s
            if claimed:
                return claimed
        # 3. new entries
        return stream.read_new(self.client, cfg.consumer, cfg.batch, cfg.block_ms if block else None)

    def _maybe_trim(self) -> None:
        """Every trim_every_s: drop entries the group has acknowledged and retain_s has passed."""
        if time.monotonic() < self._next_trim:
            return
        self._next_trim = time.monotonic() + self.config.trim_every_s
        now_ms = int(self.clock().timestamp() * 1000)
        for name in rk.STREAMS:
            n = stream.trim_processed(self.client, name, self.config.retain_s, now_ms)
            self.totals.trimmed += n
            self.metrics.trimmed.labels(stream=name).inc(n)
            state = stream.group_state(self.client, name)
            self.metrics.pending.labels(stream=name).set(state.pending)
            if state.lag is not None:
                self.metrics.lag.labels(stream=name).set(state.lag)

    def _crash_point(self, step: CrashPoint) -> None:
        if self.config.crash_at == step and self.totals.batches + 1 == self.config.crash_on_batch:
            log.warning("test hook: SIGKILL at %s of batch %d", step, self.totals.batches + 1)
            os.kill(os.getpid(), signal.SIGKILL)

    def process(self, entries: stream.Entries, name: str = rk.EVENTS_STREAM) -> BatchResult:
        """One batch of one stream: every side effect, then the ack."""
        t0 = time.perf_counter()
        batch = parse_entries(entries)
        self._crash_point("after_read")
        if batch.lost:
            # Cannot happen through our own trimming (it keeps unacked entries); someone else
            # trimmed or deleted them. Nothing can be recovered: count, log and alert (metric).
            log.error("%d pending entries of %s had no payload (lost): %s", len(batch.lost), name,
                      ", ".join(batch.lost[:10]))  # fmt: skip
            self.metrics.lost.labels(stream=name).inc(len(batch.lost))
        stream.dead_letter(self.client, batch.dead)
        live = self._remembered(batch.events)
        applied = self.writer.apply(self.client, live)
        self._crash_point("after_apply")
        self._push(live)
        self._crash_point("after_push")
        files = self.land(batch)
        self._crash_point("after_land")
        stream.ack(self.client, batch.ids, name)
        result = BatchResult(
            entries=len(batch.ids),
            events=len(batch.events),
            impressions=len(batch.impressions),
            dead=len(batch.dead),
            applied=applied,
            files=files,
            seconds=time.perf_counter() - t0,
            lost=len(batch.lost),
        )
        self._record(result, batch, name)
        return result

    def _remembered(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Events minus those of forgotten users (``DELETE /v1/users/{id}``) from before the deletion.

        An event still in the stream when its user was forgotten must not bring back the user's
        online state; it is landed all the same (dbt drops it against the same tombstone).
        """
        users = sorted({e["user_id"] for e in events})
        if not users:
            return events
        deleted = dict(zip(users, self.client.zmscore(rk.TOMBSTONES, users), strict=True))
        if not any(v is not None for v in deleted.values()):
            return events
        return [e for e in events if e["ts"].timestamp() * 1000 > (deleted[e["user_id"]] or float("-inf"))]

    def _push(self, events: list[dict[str, Any]]) -> None:
        if not events or not self.pusher.enabled:
            return
        users = [e["user_id"] for e in events]
        items = [e["item_id"] for e in events]
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

    def _record(self, r: BatchResult, batch: ParsedBatch, name: str) -> None:
        t = self.totals
        t.batches += 1
        t.entries += r.entries
        t.events += r.events
        t.impressions += r.impressions
        t.dead += r.dead
        t.applied += r.applied
        t.lost += r.lost
        m = self.metrics
        for kind, n in (("event", r.events), ("impression", r.impressions), ("dead", r.dead)):
            m.entries.labels(stream=name, kind=kind).inc(n)
        state = stream.group_state(self.client, name)
        m.pending.labels(stream=name).set(state.pending)
        if state.lag is not None:
            m.lag.labels(stream=name).set(state.lag)
        age_s = (self.clock().timestamp() * 1000 - stream_id_key(batch.last_id)[0]) / 1000.0
        log.info(
            "batch %d (%s): entries=%d events=%d (new=%d, redelivered=%d) impressions=%d dead=%d lost=%d "
            "files=%d %.0fms lag=%s pending=%s last_entry_age=%.1fs",
            t.batches, name, r.entries, r.events, r.applied, r.events - r.applied, r.impressions, r.dead,
            r.lost, r.files, r.seconds * 1000, state.lag, state.pending, age_s,
        )  # fmt: skip
