"""A small closed-loop HTTP load generator (asyncio + httpx), run in its own process.

    python -m benchmarks.loadgen --base-url http://127.0.0.1:8000 --paths-file paths.txt \
        [--concurrency 8] [--timeout-s 10]

Each of ``concurrency`` workers sends the next path of the file as soon as its previous request
answered, so the offered load is "as fast as the server answers at this concurrency". Prints
one JSON object: wall seconds, per-request latency (ms, in completion order) and whether that
request was a 200 that was not ``degraded``, status counts, and how many 200 responses said
``degraded`` / ``cached`` (recommendation responses carry both).
It runs as a separate process so its CPU work does not share the server's GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any


async def _drive(base_url: str, paths: list[str], concurrency: int, timeout_s: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    ok_clean: list[bool] = []  # per request, aligned with latencies: 200 and not degraded
    statuses: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    queue = iter(paths)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        for path in queue:  # one shared iterator: each path is sent exactly once
            t = time.perf_counter()
            try:
                resp = await client.get(path)
                body = resp.content
                status = str(resp.status_code)
            except httpx.HTTPError as e:  # a refused/timed-out request is a result, not a crash
                status, body = type(e).__name__, b""
            latencies.append(1000.0 * (time.perf_counter() - t))
            statuses[status] += 1
            clean = False
            if status == "200" and body:
                doc = json.loads(body)
                clean = not doc.get("degraded")
                flags["degraded"] += bool(doc.get("degraded"))
                flags["cached"] += bool(doc.get("cached"))
                flags["items"] += len(doc.get("items") or ())
                reasons.update(doc.get("degraded_reasons") or ())
            ok_clean.append(clean)

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_s) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "latencies_ms": latencies,
        "ok_clean": ok_clean,
        "statuses": dict(statuses),
        "degraded": flags["degraded"],
        "cached": flags["cached"],
        "items": flags["items"],
        "degraded_reasons": dict(reasons),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.loadgen", description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--paths-file", type=Path, required=True, help="one request path per line")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--timeout-s", type=float, default=10.0)
    args = ap.parse_args(argv)
    paths = [p for p in args.paths_file.read_text().splitlines() if p]
    if not paths or args.concurrency < 1:
        print("error: need at least one path and a concurrency >= 1", file=sys.stderr)
        return 2
    result = asyncio.run(_drive(args.base_url, paths, args.concurrency, args.timeout_s))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
