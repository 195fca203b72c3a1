"""Retrieval backends (issue 15): per-query latency and the serving process's memory, memory vs Redis.

    python -m benchmarks.run --sections vectors [--vector-sizes 10000,100000]   (1000000: ~15 min+)

For each catalogue size: generated two-tower item vectors (dim 64, the training default) are
indexed in a query-engine server (``valkey-server`` + RediSearch, ``testing_support``) the way
publishing does it (``lambdarec_contracts.vector_index.publish_vectors``, HNSW M 16,
EF_CONSTRUCTION 200). Then one fresh process per backend does what a serving process does for
the two-tower generator: the memory backend loads the vectors and builds the in-process index
(``serving.vector_index.VectorIndex`` with serving's default threshold: exact up to 20,000 rows,
hnswlib above); the Redis backend only connects. Each runs the same 1,000 queries through the
generator's call (``nearest_items``: top-100 with 30 history rows excluded; EF_RUNTIME 200) and
reports per-query latency and its resident set (VmRSS) before loading and after the queries.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from benchmarks.common import REPO_ROOT, percentiles, table

DIM, K, N_EXCLUDE, N_QUERIES = 64, 100, 30, 1000
VERSION = "bench"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024.0


def child(backend: str, vectors_path: Path, url: str, seed: int) -> dict[str, float]:
    """One serving-like process: build the backend, run the queries, measure (prints JSON)."""
    from serving.store import Store
    from serving.vector_index import MEMORY, VectorIndex
    from serving.vector_store import RedisVectors

    rss_before = _rss_mb()
    t = time.perf_counter()
    n = int(np.load(vectors_path, mmap_mode="r").shape[0])
    if backend == "memory":
        search, bundle = MEMORY, SimpleNamespace(index=VectorIndex(np.load(vectors_path), 20000))
    else:
        search = RedisVectors(Store(url, 2.0, 0.5), ef_runtime=200, text_k=20, retry_s=5)  # type: ignore[assignment]
        bundle = SimpleNamespace(version=VERSION, item_vocab=range(n))
    load_s = time.perf_counter() - t
    rng = np.random.default_rng(seed)
    queries = rng.normal(size=(N_QUERIES, DIM)).astype(np.float32)
    excludes = rng.integers(1, n, size=(N_QUERIES, N_EXCLUDE))
    lat = []
    for q, ex in zip(queries, excludes, strict=True):
        t = time.perf_counter()
        rows, _ = search.nearest_items(bundle, q, K, ex)  # type: ignore[arg-type]
        rows = rows[(rows != 0) & ~np.isin(rows, ex)][:K]  # what the generator keeps
        lat.append((time.perf_counter() - t) * 1000)
        assert len(rows) == K
    p = percentiles(lat)
    return {"load_s": load_s, "p50": p["p50"], "p99": p["p99"], "rss_before": rss_before, "rss": _rss_mb()}


def _measure(backend: str, path: Path, url: str) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.vectors",
        "--child",
        backend,
        "--vectors",
        str(path),
        "--url",
        url,
    ]
    out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"vectors child failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(sizes: tuple[int, ...] = (10_000, 100_000)) -> str:
    import redis

    from lambdarec_contracts import vector_index as vi
    from testing_support.redis_server import RedisServer

    rows = []
    for n in sizes:
        with (
            tempfile.TemporaryDirectory() as tmp,
            RedisServer(Path(tmp), durable=False, query_engine=True) as srv,
        ):
            vectors = np.random.default_rng(n).normal(size=(n + 1, DIM)).astype(np.float32)
            vectors[0] = 0.0  # the OOV row, as in a bundle
            path = Path(tmp) / "item_embeddings.npy"
            np.save(path, vectors)
            del vectors
            client = redis.Redis.from_url(srv.url, socket_timeout=600)
            t = time.perf_counter()
            vi.publish_vectors(client, VERSION, {vi.ITEM: np.load(path, mmap_mode="r")})
            index_s = time.perf_counter() - t
            redis_mb = int(client.info("memory")["used_memory"]) / 2**20
            for backend in ("memory", "redis"):
                m = _measure(backend, path, srv.url)
                build = m["load_s"] if backend == "memory" else index_s
                rows.append(
                    [f"{n:,}", backend, f"{build:.1f}", f"{m['p50']:.2f}", f"{m['p99']:.2f}",
                     f"{m['rss_before']:.0f}", f"{m['rss']:.0f}", f"{redis_mb:.0f}" if backend == "redis" else ""]
                )  # fmt: skip
    return table(
        f"Retrieval backends: top-{K} of {N_QUERIES} queries (dim {DIM}, {N_EXCLUDE} rows excluded), one process "
        "per backend (memory: exact <= 20,000 rows, hnswlib above; redis: valkey-server + RediSearch HNSW)",
        [
            "items",
            "backend",
            "index build s",
            "p50 ms",
            "p99 ms",
            "RSS before MB",
            "RSS after MB",
            "redis used MB",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", choices=["memory", "redis"])
    ap.add_argument("--vectors", type=Path)
    ap.add_argument("--url", default="")
    ap.add_argument("--sizes", default="10000,100000")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.vectors, args.url, seed=1)))
    else:
        print(run(tuple(int(x) for x in args.sizes.split(","))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
