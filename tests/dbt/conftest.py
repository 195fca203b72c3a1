"""Fixtures of the dbt tests (helpers live in dbt_harness.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def dbt_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbt's target/ and logs/ for one test module."""
    return tmp_path_factory.mktemp("dbt_dirs")


@pytest.fixture(scope="module")
def foreign_cwd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty directory to run dbt from: it must stay empty."""
    return tmp_path_factory.mktemp("foreign_cwd")
