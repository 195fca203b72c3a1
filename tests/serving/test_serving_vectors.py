"""The Redis vector backend (LAMBDAREC_VECTOR_BACKEND=redis) on a real server with the query engine.

The index is written the way production writes it (``training.publish.publish`` with a
``VectorPublisher``); expectations are exact numpy searches over the same vectors.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from lambdarec_contracts import redis_keys
from lambdarec_contracts import vector_index as vi
from lambdarec_contracts.vector_index import VectorIndexError
from serving.app import create_app
from serving.bundle import Bundle, load_bundle
from serving.settings import ServingSettings
from serving.store import Store
from serving.vector_store import RedisVectors
from testing_support.bundle_builder import BundleSpec, build_bundle
from testing_support.redis_server import RedisServer
from testing_support.request_load import RequestLoad
from tests.serving.conftest import LiveServer
from training.artifacts import cosine_neighbours
from training.publish import VectorPublisher, publish

pytestmark = [pytest.mark.redis, pytest.mark.slow]

N_ITEMS, N_USERS, DIM, TEXT_DIM = 5_000, 1_000, 32, 24
GENRES = ["Action", "Comedy", "Drama", "Horror", "Sci-Fi"]


def catalogue_spec(version: str, seed: int = 3, n_items: int = N_ITEMS, n_users: int = N_USERS) -> BundleSpec:
    """A served-ranker bundle whose item and text embeddings are random, text lists exact (cosine)."""
    rng = np.random.default_rng(seed)
    items = {
        f"m{k}": {"title": f"Movie {k}", "genres": [GENRES[k % 5]], "year": 1950 + k % 70}
        for k in range(1, n_items + 1)
    }
    ids = ["[OOV]", *items]
    text = rng.normal(size=(n_items + 1, TEXT_DIM)).astype(np.float32)
    text[0] = 0.0
    text[1 + rng.choice(n_items, n_items // 50, replace=False)] = 0.0  # items without a text embedding
    item_emb = rng.normal(size=(n_items + 1, DIM)).astype(np.float32)
    return BundleSpec(
        version=version,
        items=items,
        users=[f"u{k}" for k in range(n_users)],
        dim=DIM,
        seed=seed,
        item_embeddings=item_emb,
        served=True,
        item_cf={},
        popularity={i: float(p) for i, p in zip(items, rng.integers(1, 10_000, n_items), strict=True)},
        neighbours_collab=cosine_neighbours(item_emb, ids, 10),
        neighbours_text=cosine_neighbours(text, ids, 20),
        text_embeddings=text,
    )


def serving_settings(url: str, models_dir: Path, **overrides: Any) -> ServingSettings:
    env: dict[str, Any] = {
        "LAMBDAREC_DATA_DIR": str(models_dir.parent),
        "REDIS_URL": url,
        "LAMBDAREC_EXPERIMENTS_FILE": str(models_dir / "no-experiments.yaml"),
        "LAMBDAREC_BUNDLE_POLL_S": 0,
        "LAMBDAREC_EXPLORATION_SHARE": 0.0,
        "LAMBDAREC_LATENCY_BUDGET_MS": 5000,
        "LAMBDAREC_GENERATOR_TIMEOUT_MS": 5000,
        "LAMBDAREC_TRENDING_CACHE_S": 0,
        "LAMBDAREC_CACHE_TTL_S": 0,
        "LAMBDAREC_LOCAL_CACHE_SIZE": 0,
        "LAMBDAREC_LOG_IMPRESSIONS": False,
        "LAMBDAREC_VECTOR_RETRY_S": 0,
        # The default 0.25 s is for production; a shared test machine's spikes must not turn a
        # correct Redis answer into a fallback these tests count.
        "LAMBDAREC_REDIS_SOCKET_TIMEOUT_S": 2.0,
    }
    env.update(overrides)
    return ServingSettings(**env)


def give_history(
    r: redis.Redis, users: list[str], item_ids: list[str], n: int, seed: int
) -> dict[str, list[str]]:
    """Each user's recent list (newest first): their history and "because you liked" anchors."""
    rng = np.random.default_rng(seed)
    out = {}
    for u in users:
        out[u] = [item_ids[j] for j in rng.choice(len(item_ids), n, replace=False)]
        r.rpush(redis_keys.recent_items(u), *out[u])
    return out


class Catalogue:
    def __init__(self, server: RedisServer, models_dir: Path, spec: BundleSpec, bundle: Bundle) -> None:
        self.server, self.models_dir, self.spec, self.bundle = server, models_dir, spec, bundle


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    """One published 5,000-item bundle with its vectors indexed in a query-engine server."""
    tmp = tmp_path_factory.mktemp("vectors")
    server = RedisServer(workdir=tmp, durable=False, query_engine=True)
    server.start()
    try:
        models_dir = tmp / "data" / "models"
        spec = catalogue_spec("20260301T000000Z")
        staged = build_bundle(tmp / "staging", spec)
        final, _ = publish(staged, models_dir, force=True, vectors=VectorPublisher(server.url))
        yield Catalogue(server, models_dir, spec, load_bundle(final))
    finally:
        server.stop()


def exact_top(vectors: np.ndarray, q: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
    s = vectors @ q
    s[0] = -np.inf
    s[exclude] = -np.inf
    return np.argsort(-s, kind="stable")[:k]


def test_publish_indexes_every_vector_of_the_version(catalogue: Catalogue) -> None:
    c = redis.Redis.from_url(catalogue.server.url)
    v = catalogue.spec.version
    assert sorted(vi.list_indexes(c)) == [vi.index_name(v, vi.ITEM), vi.index_name(v, vi.TEXT)]
    text = catalogue.spec.text_embeddings
    assert text is not None
    n_text = int((np.linalg.norm(text[1:], axis=1) > 0).sum())
    assert int(vi.index_info(c, vi.index_name(v, vi.ITEM))["num_docs"]) == N_ITEMS  # row 0 (OOV) is not
    assert int(vi.index_info(c, vi.index_name(v, vi.TEXT))["num_docs"]) == n_text < N_ITEMS


@pytest.mark.parametrize("protocol", [2, 3])
def test_replies_parse_under_both_protocols(catalogue: Catalogue, protocol: int) -> None:
    """redis-py 8 (the serving env) speaks RESP3 by default, 7 (the pipeline env) RESP2: both parse."""
    c = redis.Redis.from_url(catalogue.server.url, protocol=protocol)
    v, vectors = catalogue.spec.version, catalogue.spec.item_embeddings
    assert int(vi.index_info(c, vi.index_name(v, vi.ITEM))["num_docs"]) == N_ITEMS
    q = np.random.default_rng(protocol).normal(size=DIM).astype(np.float32)
    exclude = np.array([5, 6, 7])
    reply = c.execute_command(*vi.knn_args(v, vi.ITEM, q, 10, 200, exclude.tolist()))
    assert isinstance(reply, dict) == (protocol == 3)
    rows, sims = vi.parse_knn(reply)
    np.testing.assert_array_equal(rows, exact_top(vectors, q, 10, exclude))
    np.testing.assert_allclose(sims, vectors[rows] @ q, rtol=1e-4, atol=1e-4)


def test_redis_top100_recall_against_exact_search(catalogue: Catalogue) -> None:
    """1,000 random users' query embeddings (with their histories excluded in the query)."""
    b = catalogue.bundle
    backend = RedisVectors(Store(catalogue.server.url, 5.0, 0.5), ef_runtime=200, text_k=20, retry_s=5)
    rng = np.random.default_rng(11)
    users = rng.choice(catalogue.spec.users, 1000, replace=False)
    recalls = []
    for u in users:
        history = [f"m{j}" for j in rng.choice(np.arange(1, N_ITEMS + 1), 30, replace=False)]
        q = b.query_embedding(str(u), history, np.zeros(len(b.manifest.user_feature_names), np.float32))
        exclude = b.positions(history)
        rows, scores = backend.nearest_items(b, q, 100, exclude)
        assert len(rows) == 100 and not np.isin(rows, exclude).any() and 0 not in rows
        np.testing.assert_allclose(scores, b.item_embeddings[rows] @ q, rtol=1e-4, atol=1e-4)
        assert np.all(np.diff(scores) <= 1e-6)  # best first
        truth = exact_top(b.item_embeddings, q, 100, exclude)
        recalls.append(len(set(rows.tolist()) & set(truth.tolist())) / 100)
    print(
        f"redis HNSW top-100 recall vs exact, 1000 users, {N_ITEMS} items: {np.mean(recalls):.4f} (min {min(recalls):.2f})"
    )
    assert np.mean(recalls) >= 0.95


def test_redis_text_neighbours_match_the_bundles_exact_lists(catalogue: Catalogue) -> None:
    b = catalogue.bundle
    backend = RedisVectors(Store(catalogue.server.url, 5.0, 0.5), ef_runtime=200, text_k=20, retry_s=5)
    anchors = [b.position[f"m{k}"] for k in range(1, 401)]
    found = backend.text_neighbours(b, anchors)
    assert found is not None and len(found) == len(anchors)
    recalls = []
    for a, (rows, scores) in zip(anchors, found, strict=True):
        exact = {b.position[n]: sim for n, sim in b.neighbours_text.get(b.item_ids[a], [])}
        if not exact:  # no text embedding: no neighbours either way
            assert len(rows) == 0
            continue
        assert a not in rows and len(rows) == 20
        recalls.append(len(set(exact) & set(rows.tolist())) / len(exact))
        common = [k for k, r in enumerate(rows.tolist()) if r in exact]
        # cosine similarities, as training computed them
        np.testing.assert_allclose(scores[common], [exact[int(rows[k])] for k in common], atol=1e-4)
    assert len(recalls) > 350 and np.mean(recalls) >= 0.95


def test_served_lists_agree_between_backends(catalogue: Catalogue) -> None:
    """Only the vector generators: what is served depends on retrieval alone."""
    b, url = catalogue.bundle, catalogue.server.url
    users = [f"u{k}" for k in range(200)]
    give_history(redis.Redis.from_url(url), users, list(b.items), 5, seed=5)
    common = {"LAMBDAREC_GENERATORS": "two_tower,because_you_liked"}
    served: dict[str, dict[str, list[str]]] = {}
    for backend in ("memory", "redis"):
        app = create_app(
            serving_settings(url, catalogue.models_dir, LAMBDAREC_VECTOR_BACKEND=backend, **common)
        )
        with TestClient(app) as client:
            served[backend] = {}
            for u in users:
                body = client.get(f"/v1/recommendations/{u}", params={"k": 10}).json()
                assert not [x for x in body["degraded_reasons"] if x.startswith("vector_fallback")], body
                assert len(body["items"]) == 10
                served[backend][u] = [it["item_id"] for it in body["items"]]
            metrics = client.get("/metrics").text
        assert 'reason="vector_fallback"' not in metrics
    stats = redis.Redis.from_url(url).info("commandstats")
    assert stats["cmdstat_FT.SEARCH"]["calls"] >= 2 * len(users)  # the Redis app really asked Redis
    agree = np.mean([len(set(served["memory"][u]) & set(served["redis"][u])) / 10 for u in users])
    print(f"served top-10 agreement memory vs redis backend, {len(users)} users: {agree:.4f}")
    assert agree >= 0.90


def test_plain_redis_falls_back_to_memory_flagged(redis_server: RedisServer, tmp_path: Path) -> None:
    """A server without the query engine: the same lists as the memory backend, flagged degraded."""
    models_dir = tmp_path / "data" / "models"
    spec = catalogue_spec("20260302T000000Z", n_items=300, n_users=20)
    publish(build_bundle(tmp_path / "staging", spec), models_dir, force=True)
    give_history(redis.Redis.from_url(redis_server.url), ["u1", "u2"], list(spec.items), 4, seed=1)
    lists = {}
    for backend in ("memory", "redis"):
        app = create_app(serving_settings(redis_server.url, models_dir, LAMBDAREC_VECTOR_BACKEND=backend))
        with TestClient(app) as client:
            for u in ("u1", "u2"):
                resp = client.get(f"/v1/recommendations/{u}", params={"k": 10})
                assert resp.status_code == 200
                body = resp.json()
                fallbacks = [x for x in body["degraded_reasons"] if x.startswith("vector_fallback")]
                if backend == "redis":
                    assert body["degraded"]
                    assert fallbacks == [
                        "vector_fallback:item:index_missing",
                        "vector_fallback:text:index_missing",
                    ]
                else:
                    assert not fallbacks
                lists[backend, u] = [it["item_id"] for it in body["items"]]
            metrics = client.get("/metrics").text
        counted = re.search(r'lambdarec_degraded_responses_total\{reason="vector_fallback"\} (\d+)', metrics)
        assert (counted is not None and int(counted.group(1)) >= 2) == (backend == "redis")
    assert lists["memory", "u1"] == lists["redis", "u1"] and lists["memory", "u2"] == lists["redis", "u2"]


def test_missing_index_falls_back_until_published(query_engine_server: RedisServer, tmp_path: Path) -> None:
    models_dir = tmp_path / "data" / "models"
    spec = catalogue_spec("20260303T000000Z", n_items=300, n_users=20)
    staged = build_bundle(tmp_path / "staging", spec)
    publish(staged, models_dir, force=True)  # published without its vectors (memory backend)
    app = create_app(serving_settings(query_engine_server.url, models_dir, LAMBDAREC_VECTOR_BACKEND="redis"))
    with TestClient(app) as client:
        body = client.get("/v1/recommendations/u1", params={"k": 10}).json()
        assert "vector_fallback:item:index_missing" in body["degraded_reasons"]
        # Re-running the publish with the Redis backend indexes the already-current bundle.
        publish(staged, models_dir, force=True, vectors=VectorPublisher(query_engine_server.url))
        body = client.get("/v1/recommendations/u1", params={"k": 10}).json()
        assert not [x for x in body["degraded_reasons"] if x.startswith("vector_fallback")]
        assert len(body["items"]) == 10


def test_publishing_under_load_swaps_the_index_without_a_failed_request(
    query_engine_server: RedisServer, tmp_path: Path
) -> None:
    url = query_engine_server.url
    models_dir = tmp_path / "data" / "models"
    versions = ["20260304T000000Z", "20260305T000000Z", "20260306T000000Z"]
    staged = [
        build_bundle(tmp_path / "staging", catalogue_spec(v, seed=k, n_items=500, n_users=50))
        for k, v in enumerate(versions)
    ]
    vectors = VectorPublisher(url)
    publish(staged[0], models_dir, force=True, vectors=vectors)
    users = [f"u{k}" for k in range(8)]
    give_history(redis.Redis.from_url(url), users, [f"m{k}" for k in range(1, 501)], 5, seed=2)
    app = create_app(
        serving_settings(
            url,
            models_dir,
            LAMBDAREC_VECTOR_BACKEND="redis",
            LAMBDAREC_BUNDLE_POLL_S=0.05,
        )
    )
    with (
        LiveServer(app) as live,
        RequestLoad(
            live.url, lambda n, i: f"/v1/recommendations/{users[(n + i) % len(users)]}", {"k": 10}, 3
        ) as load,
    ):
        for version, path in zip(versions[1:], staged[1:], strict=True):
            time.sleep(0.5)
            publish(path, models_dir, force=True, vectors=vectors)
            deadline = time.monotonic() + 30  # until requests are served from the new bundle
            while not [b for _, b in load.results[-3:] if b.get("model_version") == version]:
                assert time.monotonic() < deadline, f"{version} never served"
                time.sleep(0.05)
        time.sleep(0.3)
    results = load.results
    assert not load.errors and results
    assert all(code == 200 for code, _ in results)
    # The served bundle's index always existed. (A query that timed out on the shared test machine
    # while the server inserted vectors falls back too, flagged "redis_unavailable": counted, not failed.)
    fallbacks = [r for _, b in results for r in b["degraded_reasons"] if r.startswith("vector_fallback")]
    assert not [r for r in fallbacks if r.endswith("index_missing")], fallbacks[:5]
    assert {b["model_version"] for _, b in results} == set(versions)
    assert results[-1][1]["model_version"] == versions[-1]
    # The oldest version's index went with the last publish; the replaced one stays until the next.
    c = redis.Redis.from_url(url)
    assert {vi.version_of(n) for n in vi.list_indexes(c)} == set(versions[1:])
    print(
        f"publish under load: {len(results)} requests, 0 failed, {len(fallbacks)} vector fallbacks (timeouts)"
    )


def test_publish_refuses_a_server_without_the_query_engine(redis_server: RedisServer, tmp_path: Path) -> None:
    """The Redis backend on plain Redis: the publish fails before the flip, ``current`` stays."""
    models_dir = tmp_path / "data" / "models"
    first = build_bundle(tmp_path / "staging", catalogue_spec("20260307T000000Z", n_items=50, n_users=5))
    publish(first, models_dir, force=True)
    second = build_bundle(tmp_path / "staging", catalogue_spec("20260308T000000Z", n_items=50, n_users=5))
    with pytest.raises(VectorIndexError, match="cannot create"):
        publish(second, models_dir, force=True, vectors=VectorPublisher(redis_server.url))
    assert (models_dir / "current").resolve().name == "20260307T000000Z"
