"""The training CLI fails loudly and cleanly on bad input (no stack trace, non-zero exit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LAMBDAREC_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "training.train", *args], capture_output=True, text=True, env=env
    )


def test_missing_training_set(tmp_path: Path) -> None:
    out = _run(["--ds", "2024-01-31"], tmp_path)
    assert out.returncode == 2
    assert "training failed: missing training set" in out.stderr
    assert "ds=2024-01-31" in out.stderr and "Traceback" not in out.stderr


def test_bad_value_weights(tmp_path: Path) -> None:
    out = _run(["--ds", "2024-01-31", "--value-weights", "clicks=1"], tmp_path)
    assert out.returncode == 2
    assert "ranker heads" in out.stderr and "Traceback" not in out.stderr
