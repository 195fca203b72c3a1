"""Fixtures of the training tests (training env). TF_USE_LEGACY_KERAS must be set before
TensorFlow is imported anywhere, so it is set here at conftest import time."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hashlib  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.conftest import REPO_ROOT, venv_python  # noqa: E402

TINY_DS = "2024-02-29"
TINY_ARGS = [
    "--ds",
    TINY_DS,
    "--users",
    "150",
    "--items",
    "90",
    "--interactions",
    "4000",
    "--days",
    "60",
    "--seed",
    "3",
]
# Everything that decides the generated inputs: a change to any of it makes a new fixture.
_INPUT_SOURCES = [
    "training/synthetic.py",
    "testing_support/training_inputs.py",
    "jobs/features",
    "jobs/training_set.py",
    "jobs/training_set_spark.py",
    "jobs/training_set_values.py",
    "jobs/embeddings/run.py",
    "feature_repo",
    "lambdarec_contracts",
    "requirements/pipeline.lock",
]


def _inputs_key() -> str:
    h = hashlib.sha256(" ".join(TINY_ARGS).encode())
    for name in _INPUT_SOURCES:
        root = REPO_ROOT / name
        for f in sorted([root] if root.is_file() else root.rglob("*")):
            if f.is_file() and f.suffix in {".py", ".yaml", ".lock", ".properties"}:
                h.update(str(f.relative_to(REPO_ROOT)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _generate(target: Path) -> None:
    """``testing_support.training_inputs`` in the pipeline env (Spark + Feast), into ``target``."""
    python = venv_python("pipeline")
    if not Path(python).exists():
        pytest.fail(f"the training fixtures are made with the pipeline env, missing: {python} (make setup)")
    building = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [python, "-m", "testing_support.training_inputs", "--data-dir", str(building), *TINY_ARGS],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"generating the training inputs failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    try:
        building.rename(target)  # atomic: a concurrent session either sees all of it or none
    except OSError:
        shutil.rmtree(building, ignore_errors=True)  # another session finished first


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Marts (150 users, 90 items, ~4k interactions over 60 days) and, made from them by the real
    Spark transforms and Feast's point-in-time join, weekly feature snapshots and the training set.

    Built at most once per version of the code that makes it (cached under
    ``$LAMBDAREC_TEST_CACHE``, default ``var/test-cache``, keyed by a hash of that code), then
    copied per session so tests can write next to it.
    """
    cache = Path(os.environ.get("LAMBDAREC_TEST_CACHE", REPO_ROOT / "var" / "test-cache"))
    cache.mkdir(parents=True, exist_ok=True)
    built = cache / f"training-inputs-{_inputs_key()}"
    if not built.exists():
        _generate(built)
    d = tmp_path_factory.mktemp("tiny") / "data"
    shutil.copytree(built, d)
    return d


@pytest.fixture(scope="session")
def tiny_bundle(tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real (tiny) training run: 2 epochs, dim 16, exported to a staging dir."""
    from training.config import TrainConfig
    from training.settings import TrainingSettings
    from training.train import train_bundle

    cfg = TrainConfig(
        ds=TINY_DS,
        epochs=2,
        ranker_epochs=1,
        batch_size=256,
        dim=16,
        out_dir=tmp_path_factory.mktemp("staging"),
    )
    settings = TrainingSettings(LAMBDAREC_DATA_DIR=tiny_data_dir)
    return train_bundle(cfg, settings)
