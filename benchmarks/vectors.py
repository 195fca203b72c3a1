"""Retrieval backends (issue 15): per-query latency, recall and the serving process's memory, memory vs Redis.

    python -m benchmarks.run --sections vectors [--vector-sizes 10000,100000] [--vector-ef 200,1000,2000]

(``--vector-sizes 10000,1000000`` gives issue 15's 1M figures: 67 min at load 3-8, see NOTES.)

For each catalogue size: generated two-tower item vectors (dim 64, the training default; isotropic
Gaussian, the hard case for HNSW: no structure for the graph to exploit) are indexed in a
query-engine server (``valkey-server`` + RediSearch, ``testing_support``) the way publishing does
it (``lambdarec_contracts.vector_index.publish_vectors``, HNSW M 16, EF_CONSTRUCTION 200). Then one
fresh process per backend does what a serving process does for the two-tower generator: the memory
backend loads the vectors and builds the in-process index (``serving.vector_index.VectorIndex``
with serving's default threshold: exact up to 20,000 rows, hnswlib above, same M and
EF_CONSTRUCTION); the Redis backend only connects. Each runs the same 1,000 queries through the
generator's call (``nearest_items``: top-100 with 30 history rows excluded) once per query-time
EF (``EF_RUNTIME`` / hnswlib's ``ef``; serving's default is 200) and reports per-query latency and
its resident set (VmRSS) before loading and after the queries. Recall@100: the rows the generator
keeps for the first 200 queries against exact inner-product search over the same vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from benchmarks.common import REPO_ROOT, percentiles, table

DIM, K, N_EXCLUDE, N_QUERIES, N_RECALL = 64, 100, 30, 1000, 200
HNSW_THRESHOLD = 20_000  # serving's default LAMBDAREC_HNSW_THRESHOLD
VERSION = "bench"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024.0


def queries(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The query embeddings and each query's excluded (history) rows; the child and the parent agree."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(N_QUERIES, DIM)).astype(np.float32)
    return q, rng.integers(1, n, size=(N_QUERIES, N_EXCLUDE))


def child(backend: str, vectors_path: Path, url: str, efs: list[int], out: Path) -> dict[str, object]:
    """One serving-like process: build the backend, run the queries per EF, measure (prints JSON).

    The kept rows of the first N_RECALL queries go to ``out``/<ef>.npy for the parent's recall.
    """
    from serving.store import Store
    from serving.vector_index import MEMORY, VectorIndex
    from serving.vector_store import RedisVectors

    rss_before = _rss_mb()
    t = time.perf_counter()
    n = int(np.load(vectors_path, mmap_mode="r").shape[0])
    if backend == "memory":
        index = VectorIndex(np.load(vectors_path), HNSW_THRESHOLD)
        search, bundle = MEMORY, SimpleNamespace(index=index)
        if index.hnsw is None:
            efs = [0]  # exact: no EF
    else:
        search = RedisVectors(Store(url, 5.0, 0.5), ef_runtime=efs[0], text_k=20, retry_s=5)  # type: ignore[assignment]
        bundle = SimpleNamespace(version=VERSION, item_vocab=range(n))
    load_s = time.perf_counter() - t
    qs, excludes = queries(n)
    runs = {}
    for ef in efs:
        if backend == "memory" and ef:
            index.hnsw.set_ef(ef)
        elif backend == "redis":
            search.ef_runtime = ef  # type: ignore[union-attr]
        lat, kept, short = [], np.full((N_RECALL, K), -1, np.int64), 0
        for i, (q, ex) in enumerate(zip(qs, excludes, strict=True)):
            t = time.perf_counter()
            rows, _ = search.nearest_items(bundle, q, K, ex)  # type: ignore[arg-type]
            rows = rows[(rows != 0) & ~np.isin(rows, ex)][:K]  # what the generator keeps
            lat.append((time.perf_counter() - t) * 1000)
            short += len(rows) < K  # e.g. a query cut by the server's FT TIMEOUT
            if i < N_RECALL:
                kept[i, : len(rows)] = rows
        np.save(out / f"{ef}.npy", kept)
        p = percentiles(lat)
        runs[str(ef)] = {"p50": p["p50"], "p99": p["p99"], "short": short}
    return {"load_s": load_s, "rss_before": rss_before, "rss": _rss_mb(), "runs": runs}


def _measure(backend: str, path: Path, url: str, efs: list[int], out: Path) -> dict[str, object]:
    out.mkdir()
    cmd = [sys.executable, "-m", "benchmarks.vectors", "--child", backend, "--vectors", str(path),
           "--url", url, "--ef", ",".join(map(str, efs)), "--out", str(out)]  # fmt: skip
    res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"vectors child failed: {res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def exact_top(vectors: np.ndarray, n_queries: int) -> np.ndarray:
    """Exact top-K rows of the first ``n_queries`` (inner product; row 0 and the excluded rows removed)."""
    v = np.asarray(vectors)
    qs, excludes = queries(len(v))
    top = np.zeros((n_queries, K), np.int64)
    for i in range(n_queries):
        s = v @ qs[i]
        s[0] = -np.inf
        s[excludes[i]] = -np.inf
        top[i] = np.argpartition(-s, K)[:K]
    return top


def recall(kept: np.ndarray, exact: np.ndarray) -> float:
    return float(
        np.mean([len(set(a.tolist()) & set(b.tolist())) / K for a, b in zip(kept, exact, strict=True)])
    )


def run(sizes: tuple[int, ...] = (10_000, 100_000), efs: tuple[int, ...] = (200, 1000, 2000)) -> str:
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
            load = [os.getloadavg()[0]]
            t = time.perf_counter()
            vi.publish_vectors(client, VERSION, {vi.ITEM: np.load(path, mmap_mode="r")})
            index_s = time.perf_counter() - t
            load.append(os.getloadavg()[0])
            redis_mb = int(client.info("memory")["used_memory"]) / 2**20
            exact = exact_top(np.load(path, mmap_mode="r"), N_RECALL)
            for backend in ("memory", "redis"):
                m = _measure(backend, path, srv.url, list(efs), Path(tmp) / backend)
                load.append(os.getloadavg()[0])
                build = float(m["load_s"]) if backend == "memory" else index_s  # type: ignore[arg-type]
                rate = (
                    f"{build:.1f} ({n / build:,.0f}/s)"
                    if backend == "redis" or n > HNSW_THRESHOLD
                    else f"{build:.1f}"
                )
                for ef, r in m["runs"].items():  # type: ignore[attr-defined]
                    rows.append(
                        [f"{n:,}", backend, ef if ef != "0" else "exact", rate,
                         f"{r['p50']:.2f}", f"{r['p99']:.2f}",
                         f"{recall(np.load(Path(tmp) / backend / f'{ef}.npy'), exact):.4f}",
                         r["short"] or "", f"{m['rss_before']:.0f}", f"{m['rss']:.0f}",
                         f"{redis_mb:.0f}" if backend == "redis" else "",
                         "-".join(f"{x:.1f}" for x in (min(load), max(load)))]
                    )  # fmt: skip
    return table(
        f"Retrieval backends: top-{K} of {N_QUERIES} queries (dim {DIM}, isotropic Gaussian, {N_EXCLUDE} rows "
        f"excluded), one process per backend (memory: exact <= {HNSW_THRESHOLD:,} rows, hnswlib above; redis: "
        "valkey-server + RediSearch HNSW), HNSW M 16 / EF_CONSTRUCTION 200, recall@100 over the first "
        f"{N_RECALL} queries vs exact",
        ["items", "backend", "ef", "index build s", "p50 ms", "p99 ms", "recall@100", "short answers",
         "RSS before MB", "RSS after MB", "redis used MB", "1-min load"],
        rows,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", choices=["memory", "redis"])
    ap.add_argument("--vectors", type=Path)
    ap.add_argument("--url", default="")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--ef", default="200,1000,2000", help="query-time EF values (EF_RUNTIME / hnswlib ef)")
    args = ap.parse_args(argv)
    efs = [int(x) for x in args.ef.split(",")]
    if args.child:
        print(json.dumps(child(args.child, args.vectors, args.url, efs, args.out)))
    else:
        print(run(tuple(int(x) for x in args.sizes.split(",")), tuple(efs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
