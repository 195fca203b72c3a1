"""Fixtures of the training tests (training env). TF_USE_LEGACY_KERAS must be set before
TensorFlow is imported anywhere, so it is set here at conftest import time."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

TINY_DS = "2024-02-29"


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic inputs in the contract schemas: 150 users, 90 items, ~4k interactions over 60 days."""
    from training.synthetic import write

    d = tmp_path_factory.mktemp("tiny") / "data"
    write(d, TINY_DS, n_users=150, n_items=90, n_interactions=4000, days=60, seed=3)
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
