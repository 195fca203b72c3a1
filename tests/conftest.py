"""Fixtures shared by every environment's tests (stdlib only: all envs import this).

The redis-server launcher lives in ``testing_support`` (the benchmarks start theirs with it too);
``RedisServer`` and ``free_port`` are re-exported here for the tests that import them from here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing_support.redis_server import RedisServer, RedisServerError, free_port

__all__ = ["RedisServer", "free_port"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def _running(server: RedisServer) -> Iterator[RedisServer]:
    try:
        server.start()
    except RedisServerError as e:
        pytest.fail(str(e))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A fresh redis-server per test; ``redis_server.stop()`` simulates an outage."""
    yield from _running(RedisServer(workdir=tmp_path_factory.mktemp("redis")))


@pytest.fixture
def query_engine_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A fresh server with Redis's query engine (FT.*, vector search) per test, no persistence."""
    yield from _running(
        RedisServer(workdir=tmp_path_factory.mktemp("redis-qe"), durable=False, query_engine=True)
    )


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def python_bin() -> str:
    return sys.executable


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty LAMBDAREC_DATA_DIR for one test."""
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("LAMBDAREC_DATA_DIR", str(d))
    return d


def venv_python(name: str) -> str:
    """Path of one of the project's environments' python (pipeline, training, embed, serving)."""
    root = Path(os.environ.get("LAMBDAREC_VENVS", REPO_ROOT / ".venvs"))
    return str(root / name / "bin" / "python")
