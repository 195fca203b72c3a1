"""A fixed bundle + fixed store contents, and the requests of the golden test.

The golden file (``golden_top10.json``) was written by the serving code *before* the staged-pipeline
redesign (issue 10) with ``python -m tests.serving.golden --write``; ``test_serving_golden.py``
replays the same requests against today's code and compares item by item.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from lambdarec_contracts import redis_keys
from lambdarec_contracts.tables import GENRES
from testing_support.bundle_builder import BundleSpec, build_bundle, publish
from tests.serving.feast_layout import write_entity

GOLDEN_FILE = Path(__file__).with_name("golden_top10.json")
N_ITEMS = 240
N_USERS = 80


def world_spec() -> BundleSpec:
    rng = random.Random(1234)
    genres = [g for g in GENRES if g != "(other)"]
    items = {
        f"m{n}": {
            "title": f"Movie {n}",
            "genres": rng.sample(genres, rng.randint(1, 3)),
            "year": 1950 + n % 70,
        }
        for n in range(N_ITEMS)
    }
    ids = list(items)
    pop = sorted(ids, key=lambda i: (-((hash_int(i) * 7919) % 1000), i))
    by_genre: dict[str, list[str]] = {}
    for i in pop:
        for g in items[i]["genres"]:
            by_genre.setdefault(g, []).append(i)
    collab = {i: [[rng.choice(ids), round(rng.random(), 4)] for _ in range(8)] for i in ids[:200]}
    text = {i: [[rng.choice(ids), round(rng.random(), 4)] for _ in range(5)] for i in ids[100:]}
    collab["m0"].append(["gone-item", 0.99])  # a neighbour outside the catalogue
    return BundleSpec(
        version="20260301T000000Z",
        items=items,
        users=[f"u{n}" for n in range(N_USERS)],
        dim=8,
        seed=99,
        popular_overall=pop[:150],
        popular_by_genre={g: v[:40] for g, v in by_genre.items()},
        neighbours_collab=collab,
        neighbours_text=text,
        extra_vocab_items=["gone-item"],
    )


def hash_int(s: str) -> int:
    return int(s[1:]) * 2654435761 % 2**32


def fill_store(r: Any, spec: BundleSpec) -> None:
    """User/item features (Feast layout), seen/not-interested/recent keys, trending buckets."""
    rng = random.Random(77)
    ids = list(spec.items)
    for n, u in enumerate(spec.users[:50]):
        write_entity(
            r,
            "user_id",
            u,
            "user_stats",
            {
                "n_interactions_7d": rng.randint(0, 20),
                "n_interactions_total": rng.randint(20, 500),
                "rating_mean": rng.uniform(2.5, 4.5),
                "genre_affinity": [rng.random() for _ in GENRES],
                "recent_items": rng.sample(ids, 6),
                "recent_positive_items": rng.sample(ids, 3) if n % 3 else [],
            },
        )
    for u in spec.users[20:35]:
        write_entity(
            r, "user_id", u, "user_realtime", {"rt_recent_items": rng.sample(ids, 2), "rt_n_events_1h": 3}
        )
    for i in ids[:180]:  # the rest have no item features at all
        write_entity(
            r,
            "item_id",
            i,
            "item_stats",
            {
                "n_interactions_total": rng.randint(0, 900),
                "n_interactions_7d": rng.randint(0, 50),
                "bayes_rating": rng.uniform(1.0, 5.0),
                "rating_mean": rng.uniform(1.0, 5.0),
                "trending_score": rng.uniform(0.0, 15.0),
                "genres": spec.items[i]["genres"],
                "year": spec.items[i]["year"],
            },
        )
    for n, u in enumerate([*spec.users[:60], "new1", "new2"]):
        if n % 2 == 0:
            # bounded ZSETs item -> event time (lambdarec_contracts.user_state); order is irrelevant
            r.zadd(redis_keys.seen_items(u), dict.fromkeys(rng.sample(ids, 10), time.time() * 1000))
        if n % 5 == 0:
            r.zadd(redis_keys.not_interested(u), dict.fromkeys(rng.sample(ids, 3), time.time() * 1000))
        if n % 4 == 1:
            r.rpush(redis_keys.recent_items(u), *rng.sample(ids, 3))
        if n % 7 == 0:
            r.set(redis_keys.rec_cache_generation(u), n)
    now_h = int(time.time() // 3600)
    r.zadd(redis_keys.trending(now_h), {i: rng.randint(1, 40) for i in rng.sample(ids, 30)})
    r.zadd(redis_keys.trending(now_h - 5), {i: rng.randint(1, 40) for i in rng.sample(ids, 30)})
    r.zadd(redis_keys.trending(now_h), {"not-in-catalogue": 500})


def requests() -> list[tuple[str, dict[str, Any]]]:
    """50 users at k=10 (known, known without features, unknown with state, cold), then variations."""
    users = [f"u{n}" for n in range(0, 80, 2)][:40] + ["new1", "new2", "stranger1", "stranger2"]
    users += [f"u{n}" for n in (1, 3, 5, 7, 9, 11)]
    out: list[tuple[str, dict[str, Any]]] = [(u, {"k": 10}) for u in users]
    for u in users[:8]:
        out.append((u, {"k": 20}))  # exploration: int(20 * 0.05) = 1 slot
    for u in users[8:14]:
        out.append((u, {"k": 10, "genres": "Comedy,Drama"}))
    for u in users[14:20]:
        out.append((u, {"k": 15, "offset": 5, "exclude_genres": "Drama", "exclude": "m1,m2,m3"}))
    out.append(("stranger3", {"k": 10, "genres": "Horror"}))
    return out


SETTINGS = {
    "LAMBDAREC_CACHE_TTL_S": 0,
    "LAMBDAREC_LOCAL_CACHE_SIZE": 0,
    "LAMBDAREC_LOG_IMPRESSIONS": "false",
    "LAMBDAREC_EXPLORATION_SHARE": 0.05,
    "LAMBDAREC_DIVERSITY_WINDOW": 10,
    "LAMBDAREC_DIVERSITY_MAX_PER_GENRE": 3,
}


def build_world(models_dir: Path, r: Any) -> BundleSpec:
    spec = world_spec()
    publish(models_dir, build_bundle(models_dir / "bundles", spec))
    fill_store(r, spec)
    return spec


def run_requests(client: Any) -> list[dict[str, Any]]:
    out = []
    for user, params in requests():
        body = client.get(f"/v1/recommendations/{user}", params=params).json()
        assert not body["degraded"], body
        out.append(
            {
                "user": user,
                "params": params,
                "items": [
                    [it["item_id"], it["score"], it["source"], it["reason"], it["title"]]
                    for it in body["items"]
                ],
            }
        )
    return out


def main() -> None:
    import redis
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.settings import ServingSettings
    from testing_support.redis_server import RedisServer

    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    server = RedisServer(workdir=tmp)
    server.start()
    try:
        models = tmp / "data" / "models"
        build_world(models, redis.Redis(port=server.port))
        settings = ServingSettings(
            LAMBDAREC_DATA_DIR=str(tmp / "data"),
            REDIS_URL=server.url,
            LAMBDAREC_BUNDLE_POLL_S=0,
            LAMBDAREC_EXPERIMENTS_FILE=str(tmp / "none.yaml"),
            LAMBDAREC_LATENCY_BUDGET_MS=5000,
            LAMBDAREC_GENERATOR_TIMEOUT_MS=5000,
            LAMBDAREC_TRENDING_CACHE_S=0,
            **SETTINGS,
        )
        with TestClient(create_app(settings)) as c:
            got = run_requests(c)
        text = json.dumps(got, indent=1)
        if args.write:
            GOLDEN_FILE.write_text(text + "\n")
        print(f"{len(got)} requests, {sum(len(g['items']) for g in got)} items")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
