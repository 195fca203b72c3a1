"""Serving benchmark: the real uvicorn process under load, per-stage latency, fast path vs Feast.

    python -m benchmarks.run --sections serving          # as part of `make bench`
    python -m benchmarks.serving [--bundle PATH] [--concurrency 8] [--uncached 2000] [--cached 2000]
        [--relaxed 600] [--serial 300] [--server-env LAMBDAREC_FEATURE_FETCH=pipeline] ...
    LAMBDAREC_BENCH_BUNDLE=<bundle dir> (same as --bundle), LAMBDAREC_BENCH_KEEP=1 (keep the temp dir)

What it does, all on loopback and with processes it starts and stops itself:
1. a temporary data dir with a bundle (``testing_support.bundle_builder``: 5,000 items, 32-d embeddings,
   20,000 users, neighbour and popular lists), or a real bundle given by ``--bundle`` /
   ``LAMBDAREC_BENCH_BUNDLE``; its own ``redis-server`` (``testing_support.redis_server``); the project's ``feature_repo/`` applied
   against a temporary SQLite registry and every user and item written with Feast's own
   ``write_to_online_store`` (so serving reads exactly what Feast wrote);
2. ``scripts/serve.sh`` (uvicorn, serving env, 1 worker) and ``benchmarks.loadgen`` (httpx,
   pipeline env, its own process) at a fixed concurrency: uncached (distinct users) then cached
   (a few users repeated) with production defaults; then a second server start with relaxed
   timeouts (nothing cut short) at the same concurrency and at concurrency 1; client-side
   p50/p95/p99, requests/s, server and Redis CPU per request, non-200 and degraded counts
   (``benchmarks.serving_load``);
3. the server's ``/metrics`` scraped before/after: per-stage mean and p50/p95 from the buckets
   (``benchmarks.metrics``, prometheus-client's parser);
4. in this process: serving's online-features fast path vs ``FeatureStore.get_online_features``
   for one user + 500 candidates (same data, same Redis), medians, p99s, their ratio and a
   value-by-value equality check (``benchmarks.online_features``).
The data (bundle, feature frames, speed-layer keys) is made by ``benchmarks.serving_data``; the
speed layer's worker throughput is its own section (``benchmarks.speed_layer``).
Figures are printed, never asserted. Everything started is stopped, also on error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from testing_support.redis_server import RedisServer

from .common import percentiles, table
from .metrics import HistogramDelta, counters, histograms
from .online_features import online_features_section
from .serving_data import (
    Catalogue,
    feature_frames,
    real_catalogue,
    synthetic_catalogue,
    write_speed_layer_keys,
)
from .serving_load import LoadResult, ServingProcess, run_load

STAGE_METRIC = "lambdarec_stage_duration_seconds"
HTTP_METRIC = "lambdarec_http_request_duration_seconds"
RECS_ENDPOINT = "/v1/recommendations/{user_id}"
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
    seed: int = 0


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


_STAGE_ORDER = ["user_state", "query_tower", "retrieve", "filter", "features", "score", "rank", "explain"]


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
            else synthetic_catalogue(models_dir, cfg.items, cfg.users, cfg.dim, cfg.seed)
        )
        setup_rows.append(
            [
                "bundle",
                f"{cat.source}: {len(cat.items):,} items, {len(cat.users):,} users",
                f"{time.perf_counter() - t:.1f}",
            ]
        )

        redis_proc = stack.enter_context(RedisServer(workdir=tmp, durable=False))

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
        out += online_features_section(
            store, redis_proc.url, cat.users[0], candidates, cfg.feast_rounds, cfg.feast_warmup
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
    a = ap.parse_args(argv)
    cfg = BenchConfig(
        bundle=Path(a.bundle) if a.bundle else None, items=a.items, users=a.users, dim=a.dim,
        concurrency=a.concurrency, uncached=a.uncached, cached=a.cached, relaxed=a.relaxed, serial=a.serial,
        server_env=tuple(tuple(kv.split("=", 1)) for kv in a.server_env), feast_rounds=a.feast_rounds,
    )  # fmt: skip
    t = time.perf_counter()
    print(run(cfg))
    print(f"(serving benchmark: {time.perf_counter() - t:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
