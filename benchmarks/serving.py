"""Serving benchmark: the real uvicorn process under load, per-stage latency, fast path vs Feast.

    python -m benchmarks.run --sections serving          # as part of `make bench`
    python -m benchmarks.serving [--bundle PATH] [--concurrency 8] [--uncached 2000] [--cached 2000]
        [--relaxed 600] [--serial 300] [--server-env LAMBDAREC_FEATURE_FETCH=pipeline] ...
    LAMBDAREC_BENCH_BUNDLE=<bundle dir> (same as --bundle), LAMBDAREC_BENCH_KEEP=1 (keep the temp dir)

What it does, all on loopback and with processes it starts and stops itself:
1. a temporary data dir with a bundle (tests' bundle builder: 5,000 items, 32-d embeddings,
   20,000 users, neighbour and popular lists), or a real bundle given by ``--bundle`` /
   ``LAMBDAREC_BENCH_BUNDLE``; its own ``redis-server``; the project's ``feature_repo/`` applied
   against a temporary SQLite registry and every user and item written with Feast's own
   ``write_to_online_store`` (so serving reads exactly what Feast wrote);
2. ``scripts/serve.sh`` (uvicorn, serving env, 1 worker) and ``benchmarks.loadgen`` (httpx,
   pipeline env, its own process) at a fixed concurrency: uncached (distinct users) then cached
   (a few users repeated) with production defaults; then a second server start with relaxed
   timeouts (nothing cut short) at the same concurrency and at concurrency 1; client-side
   p50/p95/p99, requests/s, server and Redis CPU per request, non-200 and degraded counts;
3. the server's ``/metrics`` scraped before/after: per-stage mean and p50/p95 from the buckets;
4. in this process: serving's online-features fast path vs ``FeatureStore.get_online_features``
   for one user + 500 candidates (same data, same Redis), medians, p99s, their ratio and a
   value-by-value equality check;
5. the speed layer's worker throughput (``jobs.speed_layer.benchmark``) on the same Redis.
Figures are printed, never asserted. Everything started is stopped, also on error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .common import REPO_ROOT, VENVS, percentiles, table, venv_python

STAGE_METRIC = "lambdarec_stage_duration_seconds"
HTTP_METRIC = "lambdarec_http_request_duration_seconds"
RECS_ENDPOINT = "/v1/recommendations/{user_id}"
FEAST_METHOD = "Feast get_online_features + to_dict"
# Server settings of the "relaxed timeouts" phase: nothing is cut short, so every stage runs.
RELAXED_ENV = {
    "LAMBDAREC_REDIS_SOCKET_TIMEOUT_S": "2",
    "LAMBDAREC_LATENCY_BUDGET_MS": "5000",
    "LAMBDAREC_GENERATOR_TIMEOUT_MS": "5000",
}


@dataclass(frozen=True)
class BenchConfig:
    """Run parameters (CLI flags; ``run()`` uses the defaults and ``LAMBDAREC_BENCH_BUNDLE``)."""

    bundle: Path | None = None  # a real published bundle directory; None: build a synthetic one
    items: int = 5000
    users: int = 20000
    dim: int = 32
    concurrency: int = 8
    uncached: int = 2000
    cached: int = 2000
    cached_users: int = 50
    relaxed: int = 600  # uncached requests against a server with relaxed timeouts (0: skip)
    serial: int = 300  # then uncached requests one at a time (stage costs without contention)
    server_env: tuple[tuple[str, str], ...] = ()  # extra LAMBDAREC_* settings for the server
    candidates: int = 500
    feast_rounds: int = 50
    feast_warmup: int = 5
    speed_events: int = 20000
    speed_push_events: int = 3000
    seed: int = 0


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RedisProcess:
    """A throw-away redis-server on a free loopback port (no persistence: a benchmark scratch store)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("benchmark needs redis-server on PATH (make setup installs it)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@dataclass
class ServingProcess:
    """``scripts/serve.sh`` (uvicorn serving.app:create_app --factory, serving env) on loopback."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        env = {**os.environ, **self.env, "HOST": "127.0.0.1", "PORT": str(self.port), "WORKERS": "1"}
        env["LAMBDAREC_VENVS"] = str(VENVS)
        with self.log_path.open("wb") as log:
            # Own session: stop() signals exactly this process group (serve.sh execs uvicorn).
            self.proc = subprocess.Popen(
                ["bash", str(REPO_ROOT / "scripts" / "serve.sh")],
                env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise SystemExit(f"serving did not become ready on port {self.port}:\n{tail}")

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process so far (uvicorn with 1 worker: one process)."""
        if self.proc is None:
            return math.nan
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.base_url}{path}", timeout=10) as r:
            return r.read().decode()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # uvicorn shuts down gracefully on TERM
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None


# --- data -----------------------------------------------------------------------------------


@dataclass
class Catalogue:
    users: list[str]
    items: dict[str, dict[str, Any]]  # item_id -> {"title", "genres", "year"}
    popularity: dict[str, int]  # item_id -> n_interactions_total (drives popular / trending)
    bundle_path: Path  # what serving loads (LAMBDAREC_BUNDLE_PATH)
    source: str  # "synthetic" or the real bundle's path


def synthetic_catalogue(cfg: BenchConfig, models_dir: Path) -> Catalogue:
    """Build a tests-style bundle (hand-made ONNX towers) with realistic sizes and publish it."""
    from lambdarec_contracts.tables import GENRES
    from tests.serving.bundle_builder import BundleSpec, build_bundle, publish

    rng = random.Random(cfg.seed)
    real_genres = [g for g in GENRES if g != "(other)"]
    items = {
        f"i{n}": {
            "title": f"Item {n}",
            "genres": rng.sample(real_genres, rng.randint(1, 3)),
            "year": rng.randint(1950, 2024),
        }
        for n in range(cfg.items)
    }
    ids = list(items)
    # Zipf-like popularity: a few items get most interactions, like real catalogues.
    popularity = {
        i: int(5000 / (1 + r) ** 0.8) + rng.randint(0, 5) for r, i in enumerate(rng.sample(ids, len(ids)))
    }
    by_pop = sorted(ids, key=lambda i: (-popularity[i], i))
    by_genre: dict[str, list[str]] = {}
    for i in by_pop:
        for g in items[i]["genres"]:
            if len(by_genre.setdefault(g, [])) < 200:
                by_genre[g].append(i)
    neighbours = {i: [[rng.choice(ids), round(rng.random(), 4)] for _ in range(20)] for i in ids}
    text_neighbours = {i: [[rng.choice(ids), round(rng.random(), 4)] for _ in range(20)] for i in ids}
    spec = BundleSpec(
        version="20260101T000000Z",
        items=items,
        users=[f"u{n}" for n in range(cfg.users)],
        dim=cfg.dim,
        seed=cfg.seed + 7,
        popular_overall=by_pop[:500],
        popular_by_genre=by_genre,
        neighbours_collab=neighbours,
        neighbours_text=text_neighbours,
    )
    path = build_bundle(models_dir / "bundles", spec)
    publish(models_dir, path)
    return Catalogue(
        spec.users, items, popularity, models_dir / "current", "synthetic (tests' bundle builder)"
    )


def real_catalogue(source: Path, max_users: int, models_dir: Path) -> Catalogue:
    """Users and items of a published bundle (features are still synthetic: the bundle has none).

    The bundle is copied into the temporary data dir first, so a publish elsewhere during the run
    (a flipped ``current`` link) cannot swap it under the benchmark.
    """
    from lambdarec_contracts import bundle as c
    from tests.serving.bundle_builder import publish

    source = source.resolve()
    if not (source / c.MANIFEST_FILE).exists():
        raise SystemExit(f"--bundle {source}: no {c.MANIFEST_FILE} there")
    bundle = models_dir / "bundles" / source.name
    shutil.copytree(source, bundle)
    publish(models_dir, bundle)
    users = [u for u in json.loads((bundle / c.USER_VOCAB_FILE).read_text()) if u != c.OOV_TOKEN]
    items = json.loads((bundle / c.ITEMS_FILE).read_text())
    popular = json.loads((bundle / c.POPULAR_FILE).read_text()).get("overall", [])
    rank = {i: r for r, i in enumerate(popular)}
    popularity = {i: int(5000 / (1 + rank.get(i, len(items))) ** 0.8) for i in items}
    return Catalogue(users[:max_users], items, popularity, models_dir / "current", str(source))


def feature_frames(cat: Catalogue, seed: int) -> dict[str, Any]:
    """One pandas frame per feature view, with every contract column (as Spark / the worker write)."""
    import numpy as np
    import pandas as pd

    from lambdarec_contracts.features import (
        ITEM_JOIN_KEY,
        ITEM_REALTIME_VIEW,
        ITEM_STATS_VIEW,
        USER_JOIN_KEY,
        USER_REALTIME_VIEW,
        USER_STATS_VIEW,
    )
    from lambdarec_contracts.tables import GENRES

    rng = np.random.default_rng(seed)
    ids = list(cat.items)
    ts = datetime.now(UTC) - timedelta(hours=1)
    nu, ni = len(cat.users), len(ids)
    pick = lambda n, k: [[ids[j] for j in row] for row in rng.integers(0, ni, size=(n, k))]  # noqa: E731
    affinity = rng.dirichlet(np.ones(len(GENRES)), size=nu).astype(np.float32)
    users = pd.DataFrame(
        {
            USER_JOIN_KEY: cat.users,
            "event_timestamp": ts,
            "n_interactions_7d": rng.integers(0, 30, nu),
            "n_interactions_30d": rng.integers(30, 120, nu),
            "n_interactions_total": rng.integers(120, 2000, nu),
            "rating_mean": rng.uniform(2.5, 4.8, nu),
            "rating_std": rng.uniform(0.2, 1.5, nu),
            "genre_affinity": [list(map(float, a)) for a in affinity],
            "recent_items": pick(nu, 20),
            "recent_positive_items": pick(nu, 5),
            "last_active_ts": int(ts.timestamp()) - rng.integers(0, 86400, nu),
        }
    )
    pop = np.asarray([cat.popularity.get(i, 1) for i in ids])
    items = pd.DataFrame(
        {
            ITEM_JOIN_KEY: ids,
            "event_timestamp": ts,
            "n_interactions_7d": pop // 50,
            "n_interactions_30d": pop // 10,
            "n_interactions_total": pop,
            "rating_mean": rng.uniform(2.0, 4.9, ni),
            "bayes_rating": rng.uniform(2.5, 4.5, ni),
            "trending_score": rng.uniform(0.0, 12.0, ni),
            "genres": [list(cat.items[i].get("genres") or ["(other)"]) for i in ids],
            "year": [int(cat.items[i].get("year") or 0) for i in ids],
            "cooc_items": pick(ni, 20),
        }
    )
    rt_users = cat.users[: nu // 2]  # half the users were active in the last hour
    user_rt = pd.DataFrame(
        {
            USER_JOIN_KEY: rt_users,
            "event_timestamp": ts,
            "rt_recent_items": pick(len(rt_users), 5),
            "rt_n_events_1h": rng.integers(1, 20, len(rt_users)),
        }
    )
    item_rt = pd.DataFrame(
        {ITEM_JOIN_KEY: ids, "event_timestamp": ts, "rt_n_events_1h": rng.integers(0, 50, ni)}
    )
    return {
        USER_STATS_VIEW: users,
        ITEM_STATS_VIEW: items,
        USER_REALTIME_VIEW: user_rt,
        ITEM_REALTIME_VIEW: item_rt,
    }


def write_speed_layer_keys(redis_url: str, cat: Catalogue, seed: int) -> None:
    """Seen sets for every user and 24 hourly trending buckets (what the worker keeps fresh)."""
    import redis

    from lambdarec_contracts import redis_keys as rk

    rng = random.Random(seed)
    ids = list(cat.items)
    hot = sorted(ids, key=lambda i: -cat.popularity.get(i, 0))[:1000]
    client = redis.Redis.from_url(redis_url)
    with client.pipeline(transaction=False) as p:
        for n, u in enumerate(cat.users):
            p.sadd(rk.seen_items(u), *rng.sample(ids, 20))
            if n % 2000 == 1999:
                p.execute()
        now_h = int(time.time() // 3600)
        for h in range(24):
            p.zadd(rk.trending(now_h - h), {i: rng.randint(1, 50) for i in rng.sample(hot, 300)})
        p.execute()
    client.close()


# --- /metrics -------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Prometheus text format -> {(sample name, sorted labels): value}."""
    out: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def diff_metrics(before: Samples, after: Samples) -> Samples:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


@dataclass
class HistogramDelta:
    count: float
    total: float
    buckets: list[tuple[float, float]]  # (upper bound, cumulative count), ascending, +Inf last

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def quantile(self, q: float) -> float:
        """Prometheus' histogram_quantile: linear interpolation within the bucket holding rank q*count."""
        if not self.count:
            return math.nan
        rank = q * self.count
        lower, below = 0.0, 0.0
        for upper, cum in self.buckets:
            if cum >= rank:
                if math.isinf(upper):
                    return lower  # beyond the last finite bucket: its bound is all we know
                inside = cum - below
                return lower + (upper - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = upper, cum
        return lower


def histograms(
    samples: Samples, metric: str, by: str, where: dict[str, str] | None = None
) -> dict[str, HistogramDelta]:
    """Per value of label ``by``: the histogram delta, summed over other labels (filtered by ``where``)."""
    acc: dict[str, dict[str, Any]] = {}
    for (name, labels), v in samples.items():
        if not name.startswith(metric):
            continue
        d = dict(labels)
        if any(d.get(k) != want for k, want in (where or {}).items()) or by not in d:
            continue
        h = acc.setdefault(d[by], {"count": 0.0, "sum": 0.0, "buckets": {}})
        suffix = name[len(metric) :]
        if suffix == "_count":
            h["count"] += v
        elif suffix == "_sum":
            h["sum"] += v
        elif suffix == "_bucket":
            le = float(d["le"])
            h["buckets"][le] = h["buckets"].get(le, 0.0) + v
    return {
        k: HistogramDelta(h["count"], h["sum"], sorted(h["buckets"].items()))
        for k, h in acc.items()
        if h["count"]
    }


def counters(samples: Samples, metric: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (name, labels), v in samples.items():
        if name in (metric, f"{metric}_total") and v:
            key = ",".join(f"{k}={val}" for k, val in labels if k == label or not label)
            out[key] = out.get(key, 0.0) + v
    return out


# --- load -----------------------------------------------------------------------------------


@dataclass
class LoadResult:
    name: str
    wall_s: float
    latencies_ms: list[float]
    ok_clean: list[bool]  # aligned with latencies_ms: a 200 that was not degraded
    statuses: dict[str, int]
    degraded: int
    cached: int
    degraded_reasons: dict[str, int]
    metrics: Samples
    server_cpu_s: float  # CPU seconds the serving process used during the phase
    redis_cpu_s: float  # CPU seconds redis-server used during the phase

    @property
    def n(self) -> int:
        return len(self.latencies_ms)

    @property
    def non_200(self) -> int:
        return sum(v for k, v in self.statuses.items() if k != "200")


def run_load(
    server: ServingProcess, name: str, paths: Sequence[str], concurrency: int, workdir: Path
) -> LoadResult:
    """Drive ``paths`` through benchmarks.loadgen (own process) and diff /metrics around it."""
    paths_file = workdir / f"paths-{name.replace(' ', '_')}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    before = parse_metrics(server.get("/metrics"))
    cpu0, redis_cpu0 = server.cpu_s(), redis_cpu_s(server.env["REDIS_URL"])
    proc = subprocess.run(
        [venv_python("pipeline"), "-m", "benchmarks.loadgen", "--base-url", server.base_url,
         "--paths-file", str(paths_file), "--concurrency", str(concurrency)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"load generator failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu, redis_cpu = server.cpu_s() - cpu0, redis_cpu_s(server.env["REDIS_URL"]) - redis_cpu0
    after = parse_metrics(server.get("/metrics"))
    doc = json.loads(proc.stdout)
    return LoadResult(
        name,
        doc["wall_s"],
        doc["latencies_ms"],
        doc["ok_clean"],
        doc["statuses"],
        doc["degraded"],
        doc["cached"],
        doc["degraded_reasons"],
        diff_metrics(before, after),
        cpu,
        redis_cpu,
    )


def redis_cpu_s(url: str) -> float:
    """used_cpu_user + used_cpu_sys of the redis-server (INFO cpu)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# --- online features: fast path vs Feast ------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and (a == b or (math.isnan(a) and math.isnan(b)))
    return a == b


def _timed_rounds(fn: Callable[[], Any], rounds: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(1000.0 * (time.perf_counter() - t))
    return out


def compare_online_features(
    store: Any, redis_url: str, user_id: str, item_ids: list[str], rounds: int, warmup: int
) -> tuple[dict[str, list[float]], bool, int]:
    """Time serving's fast path (Lua and pipeline) and Feast's SDK on the same entities.

    Returns per-method latencies (ms), whether every value is equal, and how many values were compared.
    Rounds interleave the methods so machine noise hits them alike.
    """
    import redis

    from lambdarec_contracts.feature_vectors import ITEM_VECTOR_FEATURE_REFS
    from lambdarec_contracts.features import FEAST_PROJECT, ITEM_JOIN_KEY, USER_JOIN_KEY
    from serving.online_features import OnlineFeatureReader
    from serving.service import USER_FEATURE_REFS

    client = redis.Redis.from_url(redis_url)
    user_reader = OnlineFeatureReader(FEAST_PROJECT, USER_JOIN_KEY, USER_FEATURE_REFS)
    item_reader = OnlineFeatureReader(FEAST_PROJECT, ITEM_JOIN_KEY, ITEM_VECTOR_FEATURE_REFS)

    def read_user() -> dict[str, Any]:
        with client.pipeline(transaction=False) as p:
            user_reader.queue(p, [user_id])
            return user_reader.decode(p.execute())[0]

    def fast_lua() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return read_user(), item_reader.decode(item_reader.fetch_lua(client, item_ids))

    def fast_pipeline() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with client.pipeline(transaction=False) as p:
            item_reader.queue(p, item_ids)
            items = item_reader.decode(p.execute())
        return read_user(), items

    item_rows = [{ITEM_JOIN_KEY: i} for i in item_ids]

    def feast_sdk() -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        u = store.get_online_features(
            features=USER_FEATURE_REFS, entity_rows=[{USER_JOIN_KEY: user_id}], full_feature_names=True
        ).to_dict()
        i = store.get_online_features(
            features=ITEM_VECTOR_FEATURE_REFS, entity_rows=item_rows, full_feature_names=True
        ).to_dict()
        return u, i

    # Equality: every value of the fast path equals the SDK's, row by row.
    (fu, fi), (pu, pi), (su, si) = fast_lua(), fast_pipeline(), feast_sdk()
    equal, compared = fi == pi and fu == pu, 0
    for name, got in fu.items():
        equal &= _same(got, su[name][0])
        compared += 1
    for n, row in enumerate(fi):
        for name, got in row.items():
            equal &= _same(got, si[name][n])
            compared += 1

    methods: dict[str, Callable[[], Any]] = {
        "fast path, Lua EVAL (serving default)": fast_lua,
        "fast path, pipelined HMGETs": fast_pipeline,
        FEAST_METHOD: feast_sdk,
    }
    for fn in methods.values():
        _timed_rounds(fn, 0, warmup)
    times: dict[str, list[float]] = {k: [] for k in methods}
    for _ in range(rounds):
        for k, fn in methods.items():
            times[k].extend(_timed_rounds(fn, 1, 0))
    client.close()
    return times, equal, compared


# --- speed layer ------------------------------------------------------------------------------

_APPENDED = re.compile(r"appended (\d+) events in ([\d.]+)s")
_WORKER = re.compile(
    r"worker \(push (\w+), batch (\d+)\): (\d+) events, (\d+) batches in ([\d.]+)s -> ([\d,]+) events/s"
)


def speed_layer_rows(redis_url_db: str, data_dir: Path, cfg: BenchConfig) -> list[list[str]]:
    """jobs.speed_layer.benchmark in the pipeline env (no push, then Feast push), parsed into rows."""
    import redis

    rows = []
    env = {**os.environ, "REDIS_URL": redis_url_db, "LAMBDAREC_DATA_DIR": str(data_dir)}
    for push, n in (("none", cfg.speed_events), ("feast", cfg.speed_push_events)):
        redis.Redis.from_url(redis_url_db).flushdb()
        proc = subprocess.run(
            [venv_python("pipeline"), "-m", "jobs.speed_layer.benchmark", "--events", str(n), "--push", push],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        a, w = _APPENDED.search(proc.stdout), _WORKER.search(proc.stdout)
        if proc.returncode != 0 or not a or not w:
            rows.append(
                [f"push {push}", str(n), "failed", (proc.stderr or proc.stdout).strip()[-160:], "", ""]
            )
            continue
        rows.append(
            [f"push {push}", w.group(3), w.group(2), w.group(4), f"{float(w.group(5)):.2f}", w.group(6)]
        )
    return rows


# --- the section ------------------------------------------------------------------------------


def _ms(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.2f}"


def _q_ms(h: HistogramDelta, q: float) -> str:
    """A bucket-interpolated quantile in ms; inside the first bucket only its bound is meaningful."""
    v = h.quantile(q)
    first = h.buckets[0][0] if h.buckets else math.inf
    if not math.isnan(v) and v <= first:
        return f"<{1000 * first:g}"
    return _ms(1000 * v)


def load_rows(results: Sequence[LoadResult]) -> list[list[str]]:
    """One row per phase, then the same phase restricted to 200 responses that were not degraded."""
    rows = []
    for r in results:
        q = percentiles(r.latencies_ms)
        server = histograms(r.metrics, HTTP_METRIC, "endpoint").get(RECS_ENDPOINT)
        rows.append(
            [
                r.name,
                str(r.n),
                f"{r.n / r.wall_s:,.0f}",
                _ms(q["p50"]),
                _ms(q["p95"]),
                _ms(q["p99"]),
                _ms(statistics.fmean(r.latencies_ms)),
                _ms(1000 * server.mean) if server else "n/a",
                f"{1000 * r.server_cpu_s / r.n:.1f}",
                f"{1000 * r.redis_cpu_s / r.n:.2f}",
                str(r.non_200),
                str(r.degraded),
                str(r.cached),
            ]
        )
        clean = [lat for lat, ok in zip(r.latencies_ms, r.ok_clean, strict=True) if ok]
        if clean and len(clean) < r.n:
            c = percentiles(clean)
            rows.append(
                ["  only 200 not degraded", str(len(clean)), "", _ms(c["p50"]), _ms(c["p95"]), _ms(c["p99"]),
                 _ms(statistics.fmean(clean)), "", "", "", "", "", ""]
            )  # fmt: skip
    return rows


_STAGE_ORDER = ["user_state", "query_tower", "retrieve", "filter", "features", "score", "rank"]


def stage_rows(phases: Sequence[LoadResult]) -> list[list[str]]:
    """Per stage: observations, mean, p50, p95 of each phase side by side (server /metrics deltas)."""
    per = [histograms(r.metrics, STAGE_METRIC, "stage") for r in phases]
    https = [histograms(r.metrics, HTTP_METRIC, "endpoint").get(RECS_ENDPOINT) for r in phases]
    seen = {s for hs in per for s in hs}
    names = [s for s in _STAGE_ORDER if s in seen] + sorted(seen - set(_STAGE_ORDER))
    rows = []
    for name, hists in [*[(s, [hs.get(s) for hs in per]) for s in names], ("(whole request)", https)]:
        row = [name]
        for h in hists:
            row += (
                [f"{h.count:.0f}", _ms(1000 * h.mean), _q_ms(h, 0.5), _q_ms(h, 0.95)]
                if h
                else ["0", "", "", ""]
            )
        rows.append(row)
    return rows


def _paths(users: Sequence[str]) -> list[str]:
    return [f"/v1/recommendations/{u}?k=10" for u in users]


def serving_phases(
    cfg: BenchConfig, cat: Catalogue, base_env: dict[str, str], tmp: Path, stack: ExitStack
) -> tuple[list[str], list[list[str]]]:
    """The HTTP load phases against two server starts: production defaults, then relaxed timeouts."""
    rng = random.Random(cfg.seed + 1)
    users = list(cat.users)
    rng.shuffle(users)
    take = iter(users)
    # Every phase gets users no earlier phase requested (else they would be cache hits); a small
    # real bundle's vocabulary is shared out in proportion.
    wanted = 50 + cfg.uncached + cfg.cached_users + (50 + cfg.relaxed + cfg.serial if cfg.relaxed else 0)
    share = min(1.0, len(users) / wanted)

    def pick(n: int) -> list[str]:
        return [u for _, u in zip(range(max(1, int(n * share))), take, strict=False)]

    server_rows: list[list[str]] = []

    def start(name: str, extra: dict[str, str]) -> ServingProcess:
        server = ServingProcess(env={**base_env, **extra}, log_path=tmp / f"serving-{name}.log")
        t = time.perf_counter()
        server.start()
        stack.callback(server.stop)
        server_rows.append(
            [f"serving start ({name}) until /readyz", "uvicorn, 1 worker", f"{time.perf_counter() - t:.1f}"]
        )
        return server

    c = cfg.concurrency
    server = start("defaults", dict(cfg.server_env))
    run_load(server, "warm-up", _paths(pick(50)), c, tmp)
    uncached = run_load(server, "uncached, distinct users (defaults)", _paths(pick(cfg.uncached)), c, tmp)
    hot = pick(cfg.cached_users)
    run_load(server, "fill cache", _paths(hot), c, tmp)
    cached = run_load(
        server,
        f"cached, {len(hot)} users repeated (defaults)",
        _paths([hot[n % len(hot)] for n in range(cfg.cached)]),
        c,
        tmp,
    )
    server.stop()
    phases = [uncached, cached]
    relaxed = serial = None
    if cfg.relaxed:
        # Same code path with time limits out of the way: what the whole path costs when no stage
        # is cut short (on a busy 2-core machine the 0.1 s Redis timeout and 60 ms generator
        # budget of the defaults trip often, and degraded responses skip work).
        server = start("relaxed timeouts", {**RELAXED_ENV, **dict(cfg.server_env)})
        run_load(server, "warm-up", _paths(pick(50)), c, tmp)
        relaxed = run_load(
            server, "uncached, distinct users (relaxed timeouts)", _paths(pick(cfg.relaxed)), c, tmp
        )
        phases.append(relaxed)
        if cfg.serial:
            serial = run_load(
                server, "uncached, distinct users, concurrency 1 (relaxed)", _paths(pick(cfg.serial)), 1, tmp
            )
            phases.append(serial)
        server.stop()

    out = [
        table(
            f"Serving: GET /v1/recommendations (k=10) — real uvicorn process, 1 worker; httpx client in its own "
            f"process, concurrency {c}, loopback; latencies in ms",
            [
                "phase",
                "requests",
                "req/s",
                "p50",
                "p95",
                "p99",
                "mean",
                "server mean",
                "server CPU ms/req",
                "redis CPU ms/req",
                "non-200",
                "degraded",
                "cached",
            ],
            load_rows(phases),
        )
    ]
    notes = [f"relaxed timeouts = {json.dumps(RELAXED_ENV)}"] if relaxed else []
    for r in phases:
        if r.degraded_reasons:
            notes.append(f"{r.name}: degraded reasons {json.dumps(r.degraded_reasons, sort_keys=True)}")
        if r.non_200:
            notes.append(f"{r.name}: statuses {json.dumps(r.statuses, sort_keys=True)}")
    notes.append(
        f"cached phase cache lookups: {json.dumps(counters(cached.metrics, 'lambdarec_cache_requests', ''), sort_keys=True)}"
    )
    out.append("\n".join(notes))
    staged = [uncached, *([relaxed] if relaxed else []), *([serial] if serial else [])]
    header = ["stage"]
    for r in staged:
        tag = "defaults" if r is uncached else "relaxed" if r is relaxed else "serial"
        header += [f"{tag} n", f"{tag} mean", f"{tag} p50", f"{tag} p95"]
    out.append(
        table(
            f"Serving: per-stage latency (ms) of the uncached phases (defaults, relaxed: concurrency {c}; "
            "serial: one request at a time), from the server's /metrics before/after (p50/p95 interpolated within histogram buckets 1, 2.5, 5, 10, 25, 50, 100 ms ...; generators run "
            "in parallel inside retrieve)",
            header,
            stage_rows(staged),
        )
    )
    return out, server_rows


def run(cfg: BenchConfig | None = None) -> str:
    """The serving section of `make bench` (Markdown)."""
    if cfg is None:
        env_bundle = os.environ.get("LAMBDAREC_BENCH_BUNDLE")
        cfg = BenchConfig(bundle=Path(env_bundle) if env_bundle else None)
    load_before = os.getloadavg()[0]
    out: list[str] = []
    setup_rows: list[list[str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="lambdarec-bench-serving-"))
    with ExitStack() as stack:
        if os.environ.get("LAMBDAREC_BENCH_KEEP") != "1":  # keep: inspect serving-*.log afterwards
            stack.callback(shutil.rmtree, tmp, True)
        data_dir = tmp / "data"
        models_dir = data_dir / "models"
        models_dir.mkdir(parents=True)

        t = time.perf_counter()
        cat = (
            real_catalogue(cfg.bundle, cfg.users, models_dir)
            if cfg.bundle
            else synthetic_catalogue(cfg, models_dir)
        )
        setup_rows.append(
            [
                "bundle",
                f"{cat.source}: {len(cat.items):,} items, {len(cat.users):,} users",
                f"{time.perf_counter() - t:.1f}",
            ]
        )

        redis_proc = RedisProcess(workdir=tmp)
        redis_proc.start()
        stack.callback(redis_proc.stop)

        # The project's feature_repo/ applied against a temporary SQLite registry, then Feast's own
        # writer fills the online store: serving reads exactly the bytes Feast writes.
        from feature_repo.feast_cli import run_feast
        from feature_repo.feast_settings import FeastSettings, open_store

        feast_settings = FeastSettings(LAMBDAREC_DATA_DIR=str(data_dir), REDIS_URL=redis_proc.url)
        t = time.perf_counter()
        applied = run_feast(["apply"], feast_settings, capture=True)
        if applied.returncode != 0:
            raise SystemExit(f"feast apply failed:\n{applied.stdout[-2000:]}{applied.stderr[-2000:]}")
        setup_rows.append(
            ["feast apply (feature_repo/, temp SQLite registry)", "", f"{time.perf_counter() - t:.1f}"]
        )
        store = open_store(feast_settings)
        for view, df in feature_frames(cat, cfg.seed).items():
            t = time.perf_counter()
            store.write_to_online_store(view, df)
            dt = time.perf_counter() - t
            setup_rows.append(
                [
                    f"Feast write_to_online_store {view}",
                    f"{len(df):,} rows ({len(df) / dt:,.0f}/s)",
                    f"{dt:.1f}",
                ]
            )
        t = time.perf_counter()
        write_speed_layer_keys(redis_proc.url, cat, cfg.seed)
        setup_rows.append(
            ["seen sets + 24 trending buckets", f"{len(cat.users):,} users", f"{time.perf_counter() - t:.1f}"]
        )

        base_env = {
            "LAMBDAREC_DATA_DIR": str(data_dir),
            "LAMBDAREC_BUNDLE_PATH": str(cat.bundle_path),
            "REDIS_URL": redis_proc.url,
        }
        load_out, server_rows = serving_phases(cfg, cat, base_env, tmp, stack)
        out.append(
            table(
                "Serving: set-up (temporary data dir, own redis-server)",
                ["step", "what", "s"],
                setup_rows + server_rows,
            )
        )
        out += load_out

        # In-process comparison, with the server stopped so it does not compete for the CPU.
        rng = random.Random(cfg.seed + 2)
        candidates = rng.sample(list(cat.items), min(cfg.candidates, len(cat.items)))
        times, equal, compared = compare_online_features(
            store, redis_proc.url, cat.users[0], candidates, cfg.feast_rounds, cfg.feast_warmup
        )
        feast_median = statistics.median(times[FEAST_METHOD])
        rows = []
        for name, ts in times.items():
            q = percentiles(ts)
            rows.append(
                [name, str(len(ts)), _ms(q["median"]), _ms(q["p99"]), f"{feast_median / q['median']:.1f}x"]
            )
        out.append(
            table(
                f"Online features: 1 user + {len(candidates)} candidates (USER_FEATURE_REFS + ITEM_VECTOR_FEATURE_REFS), "
                f"same Redis, same process, {cfg.feast_rounds} interleaved rounds after {cfg.feast_warmup} warm-up",
                ["method", "rounds", "median ms", "p99 ms", "Feast median / median"],
                rows,
            )
        )
        out.append(f"values equal: {equal} ({compared:,} values compared against Feast's SDK)")

        redis_db1 = redis_proc.url.rsplit("/", 1)[0] + "/1"
        out.append(
            table(
                "Speed layer: stream worker throughput (jobs.speed_layer.benchmark, same redis-server, db 1)",
                ["worker", "events", "batch", "batches", "s", "events/s"],
                speed_layer_rows(redis_db1, data_dir, cfg),
            )
        )
    out.append(
        f"1-min load average before / after this section: {load_before:.1f} / {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores (other work on the machine depresses every figure above)"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__.splitlines()[0])
    d = BenchConfig()
    ap.add_argument("--bundle", type=Path, default=os.environ.get("LAMBDAREC_BENCH_BUNDLE") or None,
                    help="a published bundle dir (e.g. $LAMBDAREC_DATA_DIR/models/current); default: synthetic")  # fmt: skip
    ap.add_argument("--items", type=int, default=d.items)
    ap.add_argument("--users", type=int, default=d.users)
    ap.add_argument("--dim", type=int, default=d.dim)
    ap.add_argument("--concurrency", type=int, default=d.concurrency)
    ap.add_argument("--uncached", type=int, default=d.uncached)
    ap.add_argument("--cached", type=int, default=d.cached)
    ap.add_argument("--relaxed", type=int, default=d.relaxed, help="requests of the relaxed-timeouts phase")
    ap.add_argument("--serial", type=int, default=d.serial, help="requests of the concurrency-1 phase")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra serving setting, e.g. LAMBDAREC_FEATURE_FETCH=pipeline (repeatable)")  # fmt: skip
    ap.add_argument("--feast-rounds", type=int, default=d.feast_rounds)
    ap.add_argument("--speed-events", type=int, default=d.speed_events)
    a = ap.parse_args(argv)
    cfg = BenchConfig(
        bundle=Path(a.bundle) if a.bundle else None, items=a.items, users=a.users, dim=a.dim,
        concurrency=a.concurrency, uncached=a.uncached, cached=a.cached, relaxed=a.relaxed, serial=a.serial,
        server_env=tuple(tuple(kv.split("=", 1)) for kv in a.server_env), feast_rounds=a.feast_rounds,
        speed_events=a.speed_events,
    )  # fmt: skip
    t = time.perf_counter()
    print(run(cfg))
    print(f"(serving benchmark: {time.perf_counter() - t:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
