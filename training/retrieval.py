"""Step 2: the two-tower retrieval model (TFRS), fit on the base period's rows of the Feast training set."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from lambdarec_contracts.feature_vectors import USER_VECTOR_NAMES

from .config import TrainConfig
from .data import history_arrays, last_rows_before
from .log import log
from .models import TwoTowerModel, retrieval_optimizer
from .prepare import Prepared
from .retrieval_data import batches_per_epoch, dataset, write_shards
from .towers import CandidateTower, QueryTower


@dataclass
class Retrieval:
    query_tower: QueryTower
    candidate_tower: CandidateTower
    item_emb: np.ndarray  # float32 [len(item_vocab), dim], row 0 = OOV (zeros)
    n_user_features: int
    losses: list[float] = field(default_factory=list)
    s_per_epoch: float = 0.0
    examples_per_s: float = 0.0

    def queries(
        self,
        prep: Prepared,
        user_ids: list[str],
        recent: list[list[str]],
        feats: np.ndarray,
        cfg: TrainConfig,
    ) -> np.ndarray:
        """Query embeddings for users given their recent items (most recent first) and feature vectors."""
        h_idx, h_mask = history_arrays(recent, prep.item_vocab, cfg.history_len)
        inputs = {
            "user_idx": prep.user_vocab.lookup(user_ids),
            "history_idx": h_idx,
            "history_mask": h_mask,
            "user_features": feats,
        }
        return self.query_tower.predict(inputs, batch_size=4096, verbose=0).astype(np.float32)


class _EpochTimer(tf.keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.times.append(time.perf_counter() - self._t)
        log(f"  epoch {epoch + 1}: {self.times[-1]:.1f} s, loss {(logs or {}).get('loss', float('nan')):.2f}")


def fit_retrieval(prep: Prepared, cfg: TrainConfig, rows: pd.DataFrame | None = None) -> Retrieval:
    """Train the towers (in-batch softmax, logQ correction) on ``rows`` (default: the base
    period's, ``prep.retrieval_rows``) and embed the whole catalogue.

    The examples stream from Parquet shards (``retrieval_data``), written to a temporary
    directory and removed when the fit is done."""
    with tempfile.TemporaryDirectory(prefix="lambdarec-retrieval-") as tmp:
        t = time.perf_counter()
        shards = write_shards(
            prep.retrieval_rows if rows is None else rows, prep.user_lists,
            prep.user_vocab, prep.item_vocab,
            cfg.history_len, Path(tmp), cfg.seed,
        )  # fmt: skip
        log(
            f"retrieval: {shards.n_rows} rows in {len(shards.paths)} shards ({time.perf_counter() - t:.1f} s)"
        )
        query = QueryTower(
            prep.user_vocab.n_trained, prep.item_vocab.n_trained, shards.n_user_features, dim=cfg.dim
        )
        candidate = CandidateTower(prep.item_vocab.n_trained, prep.content, dim=cfg.dim)
        model = TwoTowerModel(query, candidate, cfg.temperature, cfg.sampling_bias_correction)
        # Not XLA-compiled: on 2 CPU cores a compiled step cost more CPU time than the default one.
        # Several steps per call of the compiled train function: less Python per step.
        model.compile(optimizer=retrieval_optimizer(cfg.learning_rate), steps_per_execution=16)
        log(f"retrieval: {cfg.epochs} epochs, batch {cfg.batch_size}, dim {cfg.dim}")
        timer = _EpochTimer()
        hist = model.fit(
            dataset(shards, cfg.batch_size, cfg.user_id_dropout, cfg.seed, cfg.epochs),
            epochs=cfg.epochs,
            steps_per_epoch=batches_per_epoch(shards, cfg.batch_size),
            verbose=0,
            callbacks=[timer],
        )
    catalogue = np.arange(1, len(prep.item_vocab), dtype=np.int64)
    item_emb = np.zeros((len(prep.item_vocab), cfg.dim), np.float32)
    item_emb[1:] = np.concatenate(
        [candidate(tf.constant(catalogue[i : i + 4096])).numpy() for i in range(0, len(catalogue), 4096)]
    )
    s_per_epoch = float(np.median(timer.times))
    return Retrieval(
        query,
        candidate,
        item_emb,
        shards.n_user_features,
        # TFRS reports the summed in-batch loss; per example reads better.
        losses=[v / cfg.batch_size for v in hist.history["loss"]],
        s_per_epoch=s_per_epoch,
        examples_per_s=shards.n_rows / s_per_epoch if s_per_epoch else 0.0,
    )


def user_state_at(
    prep: Prepared, history: pd.DataFrame, users: list[str], cfg: TrainConfig, training_set: pd.DataFrame
) -> tuple[list[list[str]], np.ndarray]:
    """Per user, as of the end of ``history``: recent items (most recent first) and the feature vector,
    as serving's query tower sees them.

    Both come from the user's last Feast training-set row within ``history`` (point in time: the
    ``user_stats`` snapshot serving would read online then, including its ``recent_items`` list);
    users without one get an empty history and zero features, as a user without online features does.
    """
    last_ts = history[history["event_type"] != "not_interested"].groupby("user_id")["event_ts"].max()
    last_rows = last_rows_before(training_set, users, last_ts, inclusive=True)
    positions = last_rows.index.to_numpy()
    feats_by_user = dict(zip(last_rows["user_id"], prep.user_lists.user_matrix(positions), strict=True))
    recent_by_user = dict(zip(last_rows["user_id"], prep.user_lists.recent_lists(positions), strict=True))
    zeros = np.zeros(len(USER_VECTOR_NAMES), np.float32)
    recent = [list(recent_by_user.get(u, []))[: cfg.history_len] for u in users]
    feats = np.stack([feats_by_user.get(u, zeros) for u in users]) if users else np.zeros((0, len(zeros)))
    return recent, feats.astype(np.float32)
