"""Latency figures of the recommendation path (prints them; never asserted).

.venvs/pipeline/bin/python -m tests.serving.bench_latency [--items 5000] [--requests 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import redis
from fastapi.testclient import TestClient

from lambdarec_contracts.tables import GENRES
from serving.app import create_app
from serving.settings import ServingSettings
from testing_support.bundle_builder import BundleSpec, build_bundle, publish
from tests.conftest import RedisServer, free_port
from tests.serving.feast_layout import write_entity


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--hnsw-threshold", type=int, default=20000)
    ap.add_argument("--feature-fetch", default="lua", choices=["lua", "pipeline"])
    args = ap.parse_args()
    rng = random.Random(0)
    tmp = Path(tempfile.mkdtemp())
    server = RedisServer(port=free_port(), workdir=tmp)
    server.start()
    try:
        items = {
            f"i{n}": {"title": f"T{n}", "genres": rng.sample(GENRES[:19], 2), "year": 1990}
            for n in range(args.items)
        }
        ids = list(items)
        nb = {i: [[rng.choice(ids), rng.random()] for _ in range(20)] for i in ids}
        users = [f"u{n}" for n in range(1000)]
        spec = BundleSpec(items=items, users=users, dim=args.dim, neighbours_collab=nb, neighbours_text=nb)
        models = tmp / "data" / "models"
        t = time.perf_counter()
        publish(models, build_bundle(models / "bundles", spec))
        r = redis.Redis(port=server.port).pipeline(transaction=False)
        for i in ids:
            write_entity(
                r,
                "item_id",
                i,
                "item_stats",
                {
                    "n_interactions_total": rng.randint(0, 999),
                    "bayes_rating": rng.uniform(1, 5),
                    "genres": items[i]["genres"],
                    "year": 1990,
                },
            )
        for u in users:
            write_entity(
                r,
                "user_id",
                u,
                "user_stats",
                {
                    "n_interactions_total": 10,
                    "recent_positive_items": rng.sample(ids, 5),
                    "recent_items": rng.sample(ids, 10),
                    "genre_affinity": [rng.random() for _ in GENRES],
                },
            )
        r.execute()
        print(f"setup {time.perf_counter() - t:.1f}s: {args.items} items, dim {args.dim}")
        settings = ServingSettings(
            LAMBDAREC_DATA_DIR=str(tmp / "data"),
            REDIS_URL=server.url,
            LAMBDAREC_BUNDLE_POLL_S=0,
            LAMBDAREC_LOCAL_CACHE_SIZE=0,
            LAMBDAREC_CACHE_TTL_S=0,
            LAMBDAREC_LOG_IMPRESSIONS=True,
            LAMBDAREC_HNSW_THRESHOLD=args.hnsw_threshold,
            LAMBDAREC_FEATURE_FETCH=args.feature_fetch,
            LAMBDAREC_EXPERIMENTS_FILE=str(tmp / "none.yaml"),
        )
        with TestClient(create_app(settings)) as c:
            t = time.perf_counter()
            c.get("/v1/recommendations/u0")
            print(f"first request (warm-up) {1000 * (time.perf_counter() - t):.1f} ms")
            lat, degraded, n_items = [], 0, []
            for _ in range(args.requests):
                t = time.perf_counter()
                body = c.get(f"/v1/recommendations/{rng.choice(users)}", params={"k": 10}).json()
                lat.append(1000 * (time.perf_counter() - t))
                degraded += body["degraded"]
                n_items.append(len(body["items"]))
            q = np.percentile(lat, [50, 95, 99])
            print(
                f"uncached /v1/recommendations: p50 {q[0]:.1f} ms, p95 {q[1]:.1f} ms, p99 {q[2]:.1f} ms "
                f"(mean {statistics.mean(lat):.1f}; degraded {degraded}/{args.requests})"
            )
            stage = c.get("/metrics").text
            for line in stage.splitlines():
                if line.startswith("lambdarec_stage_duration_seconds_sum"):
                    name = line.split('stage="')[1].split('"')[0]
                    print(
                        f"  stage {name}: mean {1000 * float(line.split()[-1]) / args.requests:.2f} ms/request"
                    )
            index = c.app.state.recommender.holder.current.index.kind
            print(f"  vector index: {index}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
