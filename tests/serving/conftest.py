"""Fixtures for the serving tests: a bundle on disk, settings, and an app against real Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.settings import ServingSettings
from testing_support.bundle_builder import BundleSpec, build_bundle, publish

API_KEY = "test-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data" / "models"
    (d / "bundles").mkdir(parents=True)
    return d


@pytest.fixture
def spec() -> BundleSpec:
    return BundleSpec()


@pytest.fixture
def published(models_dir: Path, spec: BundleSpec) -> Path:
    path = build_bundle(models_dir / "bundles", spec)
    publish(models_dir, path)
    return path


@pytest.fixture
def make_settings(tmp_path: Path, redis_server: Any, models_dir: Path) -> Callable[..., ServingSettings]:
    def make(**overrides: Any) -> ServingSettings:
        env: dict[str, Any] = {
            "LAMBDAREC_DATA_DIR": str(models_dir.parent),
            "REDIS_URL": redis_server.url,
            "LAMBDAREC_API_KEY": API_KEY,
            "LAMBDAREC_ADMIN_KEY": ADMIN_KEY,
            "LAMBDAREC_EXPERIMENTS_FILE": str(tmp_path / "no-experiments.yaml"),
            "LAMBDAREC_BUNDLE_POLL_S": 0,
            "LAMBDAREC_EXPLORATION_SHARE": 0.0,
            "LAMBDAREC_DIVERSITY_WINDOW": 0,
            "LAMBDAREC_LATENCY_BUDGET_MS": 5000,
            "LAMBDAREC_GENERATOR_TIMEOUT_MS": 5000,
            "LAMBDAREC_REDIS_BACKOFF_S": 0.2,
            "LAMBDAREC_TRENDING_CACHE_S": 0,
        }
        env.update(overrides)
        return ServingSettings(**env)

    return make


@pytest.fixture
def client_for(make_settings: Callable[..., ServingSettings]) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        c = TestClient(create_app(make_settings(**overrides)))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(published: Path, client_for: Callable[..., TestClient]) -> TestClient:
    return client_for()


@pytest.fixture
def r(redis_server: Any) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_server.url)
    yield c
    c.close()


AUTH = {"X-API-Key": API_KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}


def now_iso() -> str:
    """Event times must be near now (LAMBDAREC_EVENT_MAX_AGE_S)."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


class LiveServer:
    """A real uvicorn server in a thread (for tests that need concurrent HTTP clients)."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        from tests.conftest import free_port

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_for_stream(r: redis.Redis, stream: str, n: int, timeout_s: float = 5.0) -> bool:
    """True once ``stream`` holds ``n`` entries (impressions are written by a background thread)."""
    import time

    deadline = time.monotonic() + timeout_s
    while r.xlen(stream) < n:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
