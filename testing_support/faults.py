"""Black-box fault harness: real serving and worker processes, steady load, and what they did.

Used by ``tests/serving/test_serving_faults.py`` (short) and ``benchmarks/soak.py`` (long):
both start ``uvicorn`` (serving environment) and ``jobs.stream_worker`` (pipeline environment)
as subprocesses against a throw-away Redis, drive them over HTTP and kill things.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from lambdarec_contracts.events import EVENT_TYPES

from .redis_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
API_KEY = "fault-key-0123456789abcdef"
ADMIN_KEY = "fault-admin-0123456789abcdef"


def venv_python(name: str) -> str:
    root = Path(os.environ.get("LAMBDAREC_VENVS", REPO_ROOT / ".venvs"))
    return str(root / name / "bin" / "python")


def _env(data_dir: Path, redis_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMBDAREC_", "PROMETHEUS_"))}
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "LAMBDAREC_DATA_DIR": str(data_dir),
            "REDIS_URL": redis_url,
            "LAMBDAREC_API_KEY": API_KEY,
            "LAMBDAREC_ADMIN_KEY": ADMIN_KEY,
            "LAMBDAREC_EXPERIMENTS_FILE": str(data_dir / "no-experiments.yaml"),
            "LAMBDAREC_BUNDLE_POLL_S": "0",
            "LAMBDAREC_REDIS_BACKOFF_S": "0.2",
            **(extra or {}),
        }
    )
    return env


@dataclass
class ServingProcess:
    """``uvicorn serving.app:create_app`` in a subprocess (one worker)."""

    data_dir: Path
    redis_url: str
    log: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        cmd = [venv_python("serving"), "-m", "uvicorn", "serving.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"]  # fmt: skip
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=_env(self.data_dir, self.redis_url, self.extra_env),
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serving exited with {self.proc.returncode}; log: {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"serving did not answer /healthz in {timeout_s}s; log: {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass
class WorkerProcess:
    """``python -m jobs.stream_worker`` in a subprocess; ``kill()`` is a SIGKILL, ``start()`` its supervisor."""

    data_dir: Path
    redis_url: str
    log: Path
    consumer: str = "fault-worker"
    batch: int = 200
    proc: subprocess.Popen | None = None
    kills: int = 0

    def start(self) -> None:
        cmd = [venv_python("pipeline"), "-m", "jobs.stream_worker", "--push", "none", "--consumer", self.consumer,
               "--batch", str(self.batch), "--block-ms", "200", "--claim-idle-ms", "5000", "--trim-every-s", "2",
               "--retain-s", "0"]  # fmt: skip
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=_env(self.data_dir, self.redis_url), stdout=out,
                                         stderr=out)  # fmt: skip

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.kills += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


@dataclass
class Probe:
    t: float
    status: int
    degraded: bool | None


class RecommendationLoad:
    """A thread asking for recommendations in a loop; every response is recorded."""

    def __init__(self, base_url: str, users: int = 20) -> None:
        self.base_url = base_url
        self.users = users
        self.probes: list[Probe] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rec-load", daemon=True)

    def _run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.base_url, timeout=10) as h:
            while not self._stop.is_set():
                n += 1
                try:
                    r = h.get(f"/v1/recommendations/u{n % self.users}", params={"k": 5})
                    body = (
                        r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
                    )
                    self.probes.append(Probe(time.monotonic(), r.status_code, body.get("degraded")))
                except httpx.HTTPError as e:  # a transport error is a failure of the promise too
                    self.errors.append(f"{type(e).__name__}: {e}")
                    self.probes.append(Probe(time.monotonic(), 0, None))
                time.sleep(0.01)

    def __enter__(self) -> RecommendationLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def recovered_after(self, since: float) -> float | None:
        """Seconds from ``since`` to the first non-degraded 200 (None: never)."""
        for p in self.probes:
            if p.t >= since and p.status == 200 and p.degraded is False:
                return p.t - since
        return None


@dataclass
class PostStats:
    posted: int = 0  # distinct events sent
    attempts: int = 0  # HTTP requests, retries included
    accepted: int = 0
    duplicates: int = 0  # answers "duplicate" (a retry of a batch whose first answer was lost)
    retries: int = 0
    gave_up: int = 0
    statuses: Counter = field(default_factory=Counter)
    accepted_ids: set[str] = field(default_factory=set)


class EventLoad:
    """Posts batches of new events with retries (like a client with an outbox) from one thread."""

    def __init__(self, base_url: str, batch: int = 50, items: int = 12, max_retry_s: float = 120.0) -> None:
        self.base_url = base_url
        self.batch = batch
        self.items = items
        self.max_retry_s = max_retry_s
        self.stats = PostStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-load", daemon=True)
        self._lock = threading.Lock()
        self.target: int | None = None

    def _batch(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC).isoformat()
        out = []
        for _ in range(self.batch):
            n = self.stats.posted + len(out)
            t = EVENT_TYPES[n % len(EVENT_TYPES)]
            out.append({"event_id": uuid.uuid4().hex, "user_id": f"u{n % 50}", "item_id": f"i{1 + n % self.items}",
                        "type": t, "value": 4.5 if t == "rating" else None, "ts": now})  # fmt: skip
        return out

    def post_one(self, h: httpx.Client, events: list[dict[str, Any]]) -> None:
        """One batch until it is answered 202 (each retry sends the very same batch)."""
        s = self.stats
        s.posted += len(events)
        deadline = time.monotonic() + self.max_retry_s
        delay = 0.05
        while True:
            s.attempts += 1
            try:
                r = h.post("/v1/events", json={"events": events}, headers={"X-API-Key": API_KEY})
                s.statuses[r.status_code] += 1
                if r.status_code == 202:
                    body = r.json()
                    s.accepted += body["accepted"]
                    s.duplicates += body["duplicates"]
                    s.accepted_ids.update(e["event_id"] for e in events)
                    return
            except httpx.HTTPError:
                s.statuses["transport_error"] += 1
            if time.monotonic() > deadline:
                s.gave_up += len(events)
                return
            s.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as h:
            while not self._stop.is_set() and (self.target is None or self.stats.posted < self.target):
                self.post_one(h, self._batch())

    def __enter__(self) -> EventLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.max_retry_s + 30)

    def wait_posted(self, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.stats.posted < n and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise TimeoutError(f"posted {self.stats.posted} of {n} events in {timeout_s}s")
            time.sleep(0.05)


def landed_event_ids(data_dir: Path) -> Counter[str]:
    """event_id -> landed rows (before the readers' dedupe), over every landed file."""
    import pyarrow.parquet as pq

    counts: Counter[str] = Counter()
    for f in (data_dir / "events" / "landed").glob("date=*/hour=*/*.parquet"):
        if not f.name.startswith("."):
            counts.update(pq.read_table(f, columns=["event_id"]).column("event_id").to_pylist())
    return counts


def wait_landed(data_dir: Path, ids: set[str], timeout_s: float) -> set[str]:
    """Wait until every id is landed; returns the ids still missing at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        missing = ids - set(landed_event_ids(data_dir))
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def pause(proc: subprocess.Popen, seconds: float) -> None:
    """SIGSTOP a process (a hung Redis: connections open, nothing answers), then SIGCONT."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def summary(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
