"""Serving against its own floor: the staged pipeline's figures next to ``/healthz`` of the same process.

    python -m benchmarks.run --sections serving_pipeline      # part of `make bench`
    python -m benchmarks.serving_pipeline [--seconds 10] [--bundle PATH] [--items 5000] [--users 20000]

Absolute times on a shared machine drift, so every load figure comes with the framework's floor
measured under the same load generator in the same run: ``/healthz`` of the same server process.
Load: ``wrk`` (one thread, keep-alive, loopback) when installed, else ``benchmarks.loadgen``.
1. data as in the serving section: a synthetic tests-style bundle (or ``--bundle``), its own
   redis-server, ``feature_repo/`` applied and every user/item written by Feast itself;
2. server A (1 worker, response cache off): /healthz c=1, uncached c=1, /healthz c=8, uncached
   c=8 (a different user per request, default budgets); server B: the same at c=8 with 2 workers;
   server C (1 worker, cache on): /healthz c=8 and one user's cached list at c=8. Per phase:
   req/s, p50/p99, server CPU per request (the whole process tree), non-200 and degraded answers;
3. features for 1 user + 500 candidates as the pipeline gets them (the user's Feast hash in one
   round trip + rows of the in-memory item matrix) vs Feast ``get_online_features`` for the same
   entities, with every value compared.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testing_support.redis_server import RedisServer, free_port

from .common import REPO_ROOT, VENVS, percentiles, table, venv_python
from .serving_data import feature_frames, real_catalogue, synthetic_catalogue, write_speed_layer_keys
from .serving_load import stop_process_group

WRK_SCRIPT = Path(__file__).with_name("wrk_serving.lua")  # USERS_FILE: a user per request
NO_CACHE = {"LAMBDAREC_CACHE_TTL_S": "0", "LAMBDAREC_LOCAL_CACHE_SIZE": "0"}


@dataclass(frozen=True)
class Config:
    seconds: float = 10.0
    bundle: Path | None = None
    items: int = 5000
    users: int = 20000
    dim: int = 32
    candidates: int = 500
    feast_rounds: int = 30
    seed: int = 0


def tree_cpu_s(root: int) -> float:
    """User + system CPU seconds of ``root`` and its descendants (uvicorn's worker processes)."""
    stats: dict[int, tuple[int, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with suppress(OSError):
            f = (d / "stat").read_text().rsplit(")", 1)[1].split()
            stats[int(d.name)] = (int(f[1]), (int(f[11]) + int(f[12])) / tick)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo += [p for p, (ppid, _) in stats.items() if ppid == pid]
    return total


@dataclass
class Server:
    """``scripts/serve.sh`` on loopback with ``workers`` processes."""

    env: dict[str, str]
    workers: int
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **self.env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        env |= {"WORKERS": str(self.workers), "LAMBDAREC_VENVS": str(VENVS)}
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.log_path.with_suffix(".prom"))
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                ["bash", str(REPO_ROOT / "scripts" / "serve.sh")],
                env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        ready = 0
        while time.monotonic() < deadline and self.proc.poll() is None:
            with suppress(OSError), urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as r:
                ready = ready + 1 if r.status == 200 else 0
            if ready >= 3 * self.workers:  # every worker answered (the kernel spreads connections)
                return
            time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise SystemExit(f"serving did not become ready:\n{tail}")

    def cpu_s(self) -> float:
        return tree_cpu_s(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        stop_process_group(self.proc, grace_s=15)
        self.proc = None


@dataclass
class Phase:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_req: float
    non_200: int
    degraded: int


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _WRK_UNITS[m.group(2)] if m else float("nan")


def run_phase(server: Server, name: str, path: str, conc: int, seconds: float, users: Path | None) -> Phase:
    """One load phase; ``users``: a file of user ids (a different one per request) instead of ``path``."""
    cpu0 = server.cpu_s()
    if shutil.which("wrk"):
        cmd = ["wrk", "-t1", f"-c{conc}", f"-d{seconds:.0f}s", "--latency", "-s", str(WRK_SCRIPT)]
        env = {**os.environ, "USERS_FILE": str(users or "")}
        out = subprocess.run([*cmd, server.url + path], env=env, capture_output=True, text=True, timeout=600)
        text = out.stdout
        n = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
        p50 = _wrk_ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))  # type: ignore[union-attr]
        p99 = _wrk_ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))  # type: ignore[union-attr]
        counts = dict(re.findall(r"^lambdarec-(\w+) (\d+)$", text, re.M))
        non_200, degraded = int(counts.get("non200", 0)), int(counts.get("degraded", 0))
    else:  # the project's own closed-loop generator, a fixed number of requests
        ids = users.read_text().split() if users is not None else []
        n_req = int(seconds * (200 if users is None else 40) * conc)
        paths = (
            [f"/v1/recommendations/{ids[i % len(ids)]}?k=10" for i in range(n_req)] if ids else [path] * n_req
        )
        pf = server.log_path.with_suffix(f".{name.replace(' ', '_')}.paths")
        pf.write_text("\n".join(paths) + "\n")
        res = subprocess.run(
            [venv_python("pipeline"), "-m", "benchmarks.loadgen", "--base-url", server.url, "--paths-file", str(pf),
             "--concurrency", str(conc)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=True,
        )  # fmt: skip
        import json

        doc = json.loads(res.stdout)
        n, q = len(doc["latencies_ms"]), percentiles(doc["latencies_ms"])
        rps, p50, p99 = n / doc["wall_s"], q["p50"], q["p99"]
        non_200 = sum(v for k, v in doc["statuses"].items() if k != "200")
        degraded = doc["degraded"]
    cpu = server.cpu_s() - cpu0
    return Phase(name, n, rps, p50, p99, 1000.0 * cpu / max(1, n), non_200, degraded)


def features_comparison(
    store: Any, redis_url: str, bundle_dir: Path, user: str, items: list[str], rounds: int
) -> list[str]:
    """The pipeline's features for 1 user + N candidates vs Feast's SDK for the same entities."""
    import numpy as np
    import redis

    from lambdarec_contracts.feature_vectors import ITEM_VECTOR_FEATURE_REFS, item_vector, user_vector
    from lambdarec_contracts.features import ITEM_JOIN_KEY, USER_JOIN_KEY
    from serving.bundle import load_bundle
    from serving.feature_sync import read_item_features
    from serving.store import Store
    from serving.user_state import USER_FEATURE_REFS, UserStateLoader

    bundle = load_bundle(bundle_dir)
    client = redis.Redis.from_url(redis_url)
    t = time.perf_counter()
    matrix = read_item_features(client, bundle, None)  # once per bundle / materialization
    load_s = time.perf_counter() - t
    loader = UserStateLoader(Store(redis_url, 2.0, 0.0))
    idx = bundle.positions(items)

    def serving_way() -> tuple[np.ndarray, np.ndarray]:
        state, _ = loader.load(user)  # the request's one round trip (its user features included)
        return user_vector(state.features), matrix.matrix[idx]

    def feast_way() -> tuple[np.ndarray, np.ndarray]:
        u = store.get_online_features(
            features=USER_FEATURE_REFS, entity_rows=[{USER_JOIN_KEY: user}], full_feature_names=True
        ).to_dict()
        it = store.get_online_features(
            features=ITEM_VECTOR_FEATURE_REFS,
            entity_rows=[{ITEM_JOIN_KEY: i} for i in items],
            full_feature_names=True,
        ).to_dict()
        uvec = user_vector({k: v[0] for k, v in u.items()})
        rows = [item_vector({k: it[k][n] for k in it if k != ITEM_JOIN_KEY}) for n in range(len(items))]
        return uvec, np.stack(rows)

    times: dict[str, list[float]] = {
        "pipeline (1 round trip + in-memory matrix)": [],
        "Feast get_online_features": [],
    }
    fns = list(zip(times, (serving_way, feast_way), strict=True))
    for _ in range(3):
        for _, fn in fns:
            fn()
    for _ in range(rounds):  # interleaved: machine noise hits both alike
        for name, fn in fns:
            t = time.perf_counter()
            fn()
            times[name].append(1000.0 * (time.perf_counter() - t))
    (su, si), (fu, fi) = serving_way(), feast_way()
    equal = bool(np.array_equal(su, fu) and np.array_equal(si, fi))
    feast_med = statistics.median(times["Feast get_online_features"])
    rows = [
        [name, str(len(ts)), f"{statistics.median(ts):.3f}", f"{percentiles(ts)['p99']:.3f}",
         f"{feast_med / statistics.median(ts):.1f}x"]
        for name, ts in times.items()
    ]  # fmt: skip
    client.close()
    return [
        table(
            f"Features for 1 user + {len(items)} candidates, as model vectors (same Redis, same process, "
            f"{rounds} interleaved rounds)",
            ["method", "rounds", "median ms", "p99 ms", "Feast median / median"],
            rows,
        ),
        f"vectors equal to Feast's: {equal}; in-memory item matrix of {len(bundle.item_ids) - 1:,} items read "
        f"from Feast's layout in {load_s:.2f} s (at bundle load and per materialization stamp)",
    ]


def _f(v: float, nd: int = 2) -> str:
    return f"{v:,.{nd}f}"


def run(cfg: Config | None = None) -> str:
    cfg = cfg or Config(
        bundle=Path(os.environ["LAMBDAREC_BENCH_BUNDLE"])
        if os.environ.get("LAMBDAREC_BENCH_BUNDLE")
        else None
    )
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="lambdarec-bench-pipeline-"))
    out: list[str] = []
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, True)
        data_dir = tmp / "data"
        models = data_dir / "models"
        models.mkdir(parents=True)
        if cfg.bundle:
            cat = real_catalogue(cfg.bundle, cfg.users, models)
        else:
            cat = synthetic_catalogue(models, cfg.items, cfg.users, cfg.dim, cfg.seed)
        redis_proc = stack.enter_context(RedisServer(workdir=tmp, durable=False))
        from feature_repo.feast_cli import run_feast
        from feature_repo.feast_settings import FeastSettings, open_store

        fs = FeastSettings(LAMBDAREC_DATA_DIR=str(data_dir), REDIS_URL=redis_proc.url)
        if run_feast(["apply"], fs, capture=True).returncode != 0:
            raise SystemExit("feast apply failed")
        store = open_store(fs)
        for view, df in feature_frames(cat, cfg.seed).items():
            store.write_to_online_store(view, df)
        write_speed_layer_keys(redis_proc.url, cat, cfg.seed)
        users = list(cat.users)
        random.Random(cfg.seed).shuffle(users)
        env = {"LAMBDAREC_DATA_DIR": str(data_dir), "LAMBDAREC_BUNDLE_PATH": str(cat.bundle_path),
               "REDIS_URL": redis_proc.url, "LAMBDAREC_EXPERIMENTS_FILE": str(tmp / "none.yaml")}  # fmt: skip
        chunk = max(1, len(users) // 5)
        files = []
        for k in range(5):  # each uncached phase gets users no earlier phase asked for
            f = tmp / f"users{k}.txt"
            f.write_text("\n".join(users[k * chunk : (k + 1) * chunk]) + "\n")
            files.append(f)

        phases: list[tuple[str, Phase]] = []

        def serve(tag: str, workers: int, extra: dict[str, str]) -> Server:
            s = Server({**env, **extra}, workers, tmp / f"serving-{tag}.log")
            s.start()
            stack.callback(s.stop)
            return s

        d = cfg.seconds
        a = serve("a", 1, NO_CACHE)
        run_phase(a, "warm-up", "", 2, 3, files[4])
        for name, path, c, uf in (
            ("/healthz c=1", "/healthz", 1, None),
            ("uncached c=1", "", 1, files[0]),
            ("/healthz c=8", "/healthz", 8, None),
            ("uncached c=8", "", 8, files[1]),
        ):
            phases.append(("1 worker", run_phase(a, name, path, c, d, uf)))
        a.stop()
        b = serve("b", 2, NO_CACHE)
        run_phase(b, "warm-up", "", 4, 3, files[4])
        for name, path, c, uf in (("/healthz c=8", "/healthz", 8, None), ("uncached c=8", "", 8, files[2])):
            phases.append(("2 workers", run_phase(b, name, path, c, d, uf)))
        b.stop()
        c_srv = serve("c", 1, {})
        one = users[-1]
        urllib.request.urlopen(f"{c_srv.url}/v1/recommendations/{one}?k=10", timeout=10).read()
        run_phase(c_srv, "warm-up", f"/v1/recommendations/{one}?k=10", 2, 2, None)
        for name, path in (
            ("/healthz c=8", "/healthz"),
            ("cached c=8 (one user)", f"/v1/recommendations/{one}?k=10"),
        ):
            phases.append(("1 worker, cache on", run_phase(c_srv, name, path, 8, d, None)))
        c_srv.stop()

        rows = [
            [srv, p.name, str(p.requests), _f(p.rps, 0), _f(p.p50_ms), _f(p.p99_ms), _f(p.cpu_ms_per_req),
             str(p.non_200), str(p.degraded)]
            for srv, p in phases
        ]  # fmt: skip
        gen = (
            "wrk -t1 (keep-alive)" if shutil.which("wrk") else "benchmarks.loadgen (httpx; wrk not installed)"
        )
        out.append(
            table(
                f"Serving pipeline vs its floor: GET /v1/recommendations (k=10) and /healthz of the same server, "
                f"{gen}, {d:.0f} s per phase, loopback, default budgets, {len(cat.items):,} items",
                [
                    "server",
                    "phase",
                    "requests",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "server CPU ms/req",
                    "non-200",
                    "degraded",
                ],
                rows,
            )
        )
        get = {(s, p.name): p for s, p in phases}
        h1, u1 = get[("1 worker", "/healthz c=1")], get[("1 worker", "uncached c=1")]
        h8, u8 = get[("1 worker", "/healthz c=8")], get[("1 worker", "uncached c=8")]
        h8b, u8b = get[("2 workers", "/healthz c=8")], get[("2 workers", "uncached c=8")]
        hc, cc = (
            get[("1 worker, cache on", "/healthz c=8")],
            get[("1 worker, cache on", "cached c=8 (one user)")],
        )
        out.append(
            table(
                "Serving pipeline: the issue-10 targets, as ratios to the same run's /healthz",
                ["figure", "measured", "target"],
                [
                    ["uncached c=1 p50 / healthz c=1 p50", f"{u1.p50_ms / h1.p50_ms:.1f}x ({_f(u1.p50_ms)} ms)", "<= 5x and <= 5 ms"],
                    ["uncached c=1 p99", f"{_f(u1.p99_ms)} ms", "<= 15 ms"],
                    ["uncached c=1 server CPU", f"{_f(u1.cpu_ms_per_req)} ms/req", "<= 4 ms"],
                    ["uncached c=8 req/s / healthz c=8 req/s (1 worker)", f"{u8.rps / h8.rps:.2f}", ">= 0.2, 0 degraded"],
                    ["  degraded answers (1 worker, c=8)", str(u8.degraded), "0"],
                    ["uncached c=8 req/s / healthz c=8 req/s (2 workers)", f"{u8b.rps / h8b.rps:.2f} ({_f(u8b.rps, 0)} req/s, {u8b.degraded} degraded)", "reported"],
                    ["cached c=8 req/s / healthz c=8 req/s", f"{cc.rps / hc.rps:.2f}", ">= 0.8"],
                    ["cached c=8 p99", f"{_f(cc.p99_ms)} ms", "<= 10 ms"],
                ],
            )
        )  # fmt: skip
        rng = random.Random(cfg.seed + 2)
        cands = rng.sample(list(cat.items), min(cfg.candidates, len(cat.items)))
        out += features_comparison(
            store, redis_proc.url, cat.bundle_path.resolve(), users[0], cands, cfg.feast_rounds
        )
    out.append(
        f"1-min load average before / after this section: {load_before:.1f} / {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores (other work on the machine depresses every figure above)"
    )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.serving_pipeline", description=__doc__.splitlines()[0]
    )
    d = Config()
    ap.add_argument("--seconds", type=float, default=d.seconds)
    ap.add_argument("--bundle", type=Path, default=os.environ.get("LAMBDAREC_BENCH_BUNDLE") or None)
    ap.add_argument("--items", type=int, default=d.items)
    ap.add_argument("--users", type=int, default=d.users)
    ap.add_argument("--feast-rounds", type=int, default=d.feast_rounds)
    a = ap.parse_args(argv)
    cfg = Config(
        seconds=a.seconds, bundle=a.bundle, items=a.items, users=a.users, feast_rounds=a.feast_rounds
    )
    print(run(cfg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
