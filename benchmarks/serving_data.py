"""The serving benchmark's data: a catalogue and bundle, Feast feature frames, speed-layer keys."""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


@dataclass
class Catalogue:
    users: list[str]
    items: dict[str, dict[str, Any]]  # item_id -> {"title", "genres", "year"}
    popularity: dict[str, int]  # item_id -> n_interactions_total (drives popular / trending)
    bundle_path: Path  # what serving loads (LAMBDAREC_BUNDLE_PATH)
    source: str  # "synthetic" or the real bundle's path


def synthetic_catalogue(models_dir: Path, n_items: int, n_users: int, dim: int, seed: int) -> Catalogue:
    """Build a tests-style bundle (hand-made ONNX towers) with realistic sizes and publish it."""
    from lambdarec_contracts.tables import GENRES
    from testing_support.bundle_builder import BundleSpec, build_bundle, publish

    rng = random.Random(seed)
    real_genres = [g for g in GENRES if g != "(other)"]
    items = {
        f"i{n}": {
            "title": f"Item {n}",
            "genres": rng.sample(real_genres, rng.randint(1, 3)),
            "year": rng.randint(1950, 2024),
        }
        for n in range(n_items)
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
        users=[f"u{n}" for n in range(n_users)],
        dim=dim,
        seed=seed + 7,
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
    from testing_support.bundle_builder import publish

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
            # seen_items is a ZSET item -> event time (ms), bounded (lambdarec_contracts.user_state)
            p.zadd(rk.seen_items(u), dict.fromkeys(rng.sample(ids, 20), int(time.time() * 1000)))
            if n % 2000 == 1999:
                p.execute()
        now_h = int(time.time() // 3600)
        for h in range(24):
            p.zadd(rk.trending(now_h - h), {i: rng.randint(1, 50) for i in rng.sample(hot, 300)})
        p.execute()
    client.close()
