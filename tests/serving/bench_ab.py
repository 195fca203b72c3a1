"""In-process A/B of two versions of ``serving/``: CPU per request, interleaved, same process.

    .venvs/serving/bin/python -m tests.serving.bench_ab --a /path/to/old/checkout [--b .] \
        [--mode uncached|cached] [--rounds 20] [--block 30]

Absolute figures on a shared machine drift with its load, so two versions are compared in one
process, on one event loop, against one redis-server and one bundle, in alternating blocks: each
block sends ``--block`` requests to one version's app (the ASGI app called directly: no HTTP
parsing, which is the same for both) and records ``time.process_time`` (every thread: the
thread pool, the impression writer) and wall time per request. Each ``--a``/``--b`` is a checkout
whose ``serving`` package is imported under its own name (its imports are relative).
Data: a synthetic bundle (5,000 items, 32 dims) and Feast-layout features for 2,000 users.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lambdarec_contracts.tables import GENRES
from testing_support.bundle_builder import BundleSpec, build_bundle, publish
from testing_support.redis_server import RedisServer, free_port


def load_serving(checkout: Path, alias: str) -> Any:
    """``<checkout>/serving`` imported as package ``alias``; returns its ``app`` module."""
    init = checkout / "serving" / "__init__.py"
    spec = importlib.util.spec_from_file_location(alias, init, submodule_search_locations=[str(init.parent)])
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[alias] = mod
    spec.loader.exec_module(mod)
    return importlib.import_module(f"{alias}.app")


def write_data(tmp: Path, port: int, n_items: int, n_users: int, dim: int) -> list[str]:
    import redis

    from tests.serving.feast_layout import write_entity

    rng = random.Random(0)
    items = {
        f"i{n}": {"title": f"T{n}", "genres": rng.sample(GENRES[:19], 2), "year": 1990}
        for n in range(n_items)
    }
    ids = list(items)
    nb = {i: [[rng.choice(ids), rng.random()] for _ in range(20)] for i in ids}
    users = [f"u{n}" for n in range(n_users)]
    spec = BundleSpec(items=items, users=users, dim=dim, neighbours_collab=nb, neighbours_text=nb)
    models = tmp / "data" / "models"
    publish(models, build_bundle(models / "bundles", spec))
    p = redis.Redis(port=port).pipeline(transaction=False)
    for i in ids:
        values = {"n_interactions_total": rng.randint(0, 999), "bayes_rating": rng.uniform(1, 5)}
        write_entity(p, "item_id", i, "item_stats", {**values, "genres": items[i]["genres"], "year": 1990})
    for u in users:
        values = {"n_interactions_total": 10, "recent_positive_items": rng.sample(ids, 5)}
        values |= {"recent_items": rng.sample(ids, 10), "genre_affinity": [rng.random() for _ in GENRES]}
        write_entity(p, "user_id", u, "user_stats", values)
    p.execute()
    return users


class Caller:
    """Calls an ASGI app directly with a GET, returning (status, body)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def get(
        self, path: str, query: str = "", headers: list[tuple[bytes, bytes]] | None = None
    ) -> tuple[int, bytes]:
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": query.encode(), "root_path": "", "headers": [(b"host", b"bench"), *(headers or [])],
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {},
        }  # fmt: skip
        out: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
            else:
                out["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return out["status"], out["body"]


degraded: dict[str, int] = {}


async def measure(
    variants: dict[str, Caller],
    request: Callable[[Caller, int], Awaitable[tuple[int, bytes]]],
    rounds: int,
    block: int,
    conc: int,
) -> dict[str, list[tuple[float, float]]]:
    """Per variant, per block: (CPU ms/request, wall ms/request); blocks alternate A, B, B, A, ..."""
    res: dict[str, list[tuple[float, float]]] = {n: [] for n in variants}
    names = list(variants)
    n = 0
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            caller = variants[name]
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(block // conc):
                outs = await asyncio.gather(*(request(caller, n + j) for j in range(conc)))
                n += conc
                for status, body in outs:
                    if status != 200:
                        raise SystemExit(f"{name}: {status} {body[:300]!r}")
                    if b'"degraded":true' in body:  # counted: a degraded answer does less work
                        reasons = json.loads(body)["degraded_reasons"]
                        degraded[name] = degraded.get(name, 0) + 1
                        print(f"  {name}: degraded {reasons}")
            done = (block // conc) * conc
            res[name].append(
                (1000 * (time.process_time() - c0) / done, 1000 * (time.perf_counter() - w0) / done)
            )
    return res


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="serving_ab_"))
    server = RedisServer(port=free_port(), workdir=tmp)
    server.start()
    try:
        users = write_data(tmp, server.port, args.items, args.users, args.dim)
        env = {
            "LAMBDAREC_DATA_DIR": str(tmp / "data"), "REDIS_URL": server.url, "LAMBDAREC_BUNDLE_POLL_S": 0,
            "LAMBDAREC_EXPERIMENTS_FILE": str(tmp / "none.yaml"), "LAMBDAREC_LOG_IMPRESSIONS": True,
        }  # fmt: skip
        if args.mode == "uncached":
            env |= {"LAMBDAREC_LOCAL_CACHE_SIZE": 0, "LAMBDAREC_CACHE_TTL_S": 0}
        checkouts = {"A": args.a, "B": args.b}
        callers: dict[str, Caller] = {}
        stack = []
        for name, path in checkouts.items():
            app_mod = load_serving(path.resolve(), f"serving_{name.lower()}")
            settings_mod = importlib.import_module(f"serving_{name.lower()}.settings")
            app = app_mod.create_app(settings_mod.ServingSettings(**env))
            cm = app.router.lifespan_context(app)
            await cm.__aenter__()
            stack.append(cm)
            callers[name] = Caller(app)
        rng = random.Random(1)
        order = [rng.choice(users) for _ in range(100_000)]

        async def uncached(c: Caller, i: int) -> tuple[int, bytes]:
            return await c.get(f"/v1/recommendations/{order[i % len(order)]}", "k=10")

        async def cached(c: Caller, i: int) -> tuple[int, bytes]:
            return await c.get(f"/v1/recommendations/{users[0]}", "k=10")

        request = uncached if args.mode == "uncached" else cached
        for c in callers.values():  # warm-up (ONNX sessions, caches)
            for i in range(50):
                await request(c, i)
        load0 = os.getloadavg()[0]
        res = await measure(callers, request, args.rounds, args.block, args.conc)
        load1 = os.getloadavg()[0]
        print(f"mode {args.mode}, c={args.conc}, {args.rounds} blocks x {args.block} requests per variant, "
              f"1-min load {load0:.1f} -> {load1:.1f}")  # fmt: skip
        med = {}
        for name, rows in res.items():
            cpu = [r[0] for r in rows]
            wall = [r[1] for r in rows]
            med[name] = statistics.median(cpu)
            print(f"  {name} ({checkouts[name]}): CPU ms/request median {med[name]:.3f} "
                  f"(min {min(cpu):.3f}, max {max(cpu):.3f}); wall ms/request median {statistics.median(wall):.3f}")  # fmt: skip
        if degraded:
            print(f"  degraded answers (left in the figures): {degraded}")
        wins = sum(b[0] < a[0] for a, b in zip(res["A"], res["B"], strict=True))
        print(f"  B/A CPU {med['B'] / med['A']:.3f}; B cheaper in {wins}/{len(res['A'])} paired blocks")
        for cm in reversed(stack):
            await cm.__aexit__(None, None, None)
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", type=Path, required=True)
    ap.add_argument("--b", type=Path, default=Path(__file__).resolve().parents[2])
    ap.add_argument("--mode", choices=["uncached", "cached"], default="uncached")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--block", type=int, default=30)
    ap.add_argument("--conc", type=int, default=1)
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--dim", type=int, default=32)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
