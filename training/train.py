"""Train, evaluate and export a candidate model bundle for one data interval.

    python -m training.train --ds YYYY-MM-DD [--eval-days 14] [--epochs N] [--out-dir DIR]
        [--batch-size 2048] [--dim 64] [--value-weights rating=0.5,p_positive=0.5] [--no-bias-correction]

Time-based split: the models train on interactions before the cut-off (ds + 1 day - eval_days)
and are evaluated on each user's positive interactions after it, against most-popular and
item-to-item co-occurrence baselines on the same split. The bundle is written to
``<out-dir or $LAMBDAREC_DATA_DIR/models/staging>/<version>/`` (built under a hidden partial
name and renamed when complete); its path is the last line printed. Publishing is a separate
step (``python -m training.publish``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from lambdarec_contracts.features import RECENT_HISTORY_LEN

MAX_COOC_ITEMS = 20_000  # the dense co-occurrence baseline needs n_items^2 float32
DEFAULT_VALUE_WEIGHTS = {"rating": 0.5, "p_positive": 0.5}


class TrainConfig(BaseModel):
    """Run parameters (CLI flags) of one training run."""

    ds: str
    eval_days: int = Field(default=14, ge=1)
    epochs: int = Field(default=5, ge=1)
    ranker_epochs: int = Field(default=3, ge=1)
    batch_size: int = Field(default=2048, ge=8)
    dim: int = Field(default=64, ge=4)
    history_len: int = Field(default=RECENT_HISTORY_LEN, ge=1)
    learning_rate: float = 0.005
    temperature: float | None = 0.2
    sampling_bias_correction: bool = True
    user_id_dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    value_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_VALUE_WEIGHTS))
    neighbours: int = 20
    seed: int = 42
    out_dir: Path | None = None

    @field_validator("ds")
    @classmethod
    def _iso_date(cls, v: str) -> str:
        return dt.date.fromisoformat(v).isoformat()

    @field_validator("value_weights")
    @classmethod
    def _heads(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - set(DEFAULT_VALUE_WEIGHTS)
        if unknown or not v:
            raise ValueError(
                f"value weights must name ranker heads {sorted(DEFAULT_VALUE_WEIGHTS)}, got {sorted(v)}"
            )
        return v


def parse_value_weights(text: str) -> dict[str, float]:
    """``"rating=0.5,p_positive=0.5"`` -> {"rating": 0.5, "p_positive": 0.5}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"bad value weight {part!r}: expected head=number") from exc
    return out


def new_version(ds: str, now: dt.datetime | None = None) -> str:
    """Sortable bundle version: UTC build time, then the data interval."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-ds{ds.replace('-', '')}"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(ds: str, epochs: int | None = None, **overrides: Any) -> Path:
    """Build a candidate bundle for ``ds`` and return its directory (what the Airflow DAG calls)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    cfg = TrainConfig(ds=ds, **({"epochs": epochs} if epochs else {}), **overrides)
    from training.settings import TrainingSettings

    return train_bundle(cfg, TrainingSettings())


def train_bundle(cfg: TrainConfig, settings: Any) -> Path:
    """The whole pipeline: inputs -> split -> retrieval -> evaluation -> ranker -> export -> report."""
    import numpy as np
    import pandas as pd

    from training.data import load_inputs

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # Inputs first: a missing partition fails in a second, before TensorFlow is even imported.
    inputs = load_inputs(settings.data_dir, cfg.ds)

    import onnxruntime as ort
    import tensorflow as tf

    from lambdarec_contracts import CONTRACTS_VERSION
    from lambdarec_contracts.bundle import (
        ITEM_EMBEDDINGS_FILE,
        ITEM_VOCAB_FILE,
        ITEMS_FILE,
        MANIFEST_FILE,
        NEIGHBOURS_COLLAB_FILE,
        NEIGHBOURS_TEXT_FILE,
        POPULAR_FILE,
        QUERY_TOWER_FILE,
        RANKER_FILE,
        USER_VOCAB_FILE,
        BundleManifest,
    )
    from lambdarec_contracts.feature_vectors import ITEM_VECTOR_NAMES, USER_VECTOR_NAMES
    from lambdarec_contracts.features import ITEM_STATS_VIEW, RANKER_SERVICE, RETRIEVAL_SERVICE
    from training import artifacts, evaluation, export, report
    from training.bundle_eval import EVAL_SET_FILE, LoadedBundle, evaluate_loaded
    from training.data import (
        NOT_INTERESTED,
        build_eval_set,
        build_vocab,
        cutoff_of,
        end_of,
        history_arrays,
        index_lists,
        item_content,
        item_matrix,
        recent_lists,
        user_matrix,
    )
    from training.models import RankingModel, TwoTowerModel, retrieval_task
    from training.towers import CandidateTower, QueryTower, Ranker

    tf.keras.utils.set_random_seed(cfg.seed)
    cutoff, end = cutoff_of(cfg.ds, cfg.eval_days), end_of(cfg.ds)
    ts = inputs.training_set
    train_rows = ts[ts["event_timestamp"] < cutoff].reset_index(drop=True)
    heldout_rows = ts[(ts["event_timestamp"] >= cutoff) & (ts["event_timestamp"] < end)].reset_index(
        drop=True
    )
    if train_rows.empty:
        raise ValueError(f"no training rows before the cut-off {cutoff:%Y-%m-%d} (eval_days={cfg.eval_days})")
    # "Not interested" is an explicit negative: it must not become a positive retrieval pair.
    is_retr = (train_rows["event_type"] != NOT_INTERESTED).to_numpy()
    retr = train_rows[is_retr].reset_index(drop=True)
    train_uf = user_matrix(train_rows)  # computed once, shared by retrieval and the ranker
    user_vocab = build_vocab(retr["user_id"])
    item_vocab = build_vocab(retr["item_id"], extra_ids=[*inputs.dim_items["item_id"], *ts["item_id"]])
    content = item_content(item_vocab, inputs.dim_items, inputs.text_embeddings)
    _log(
        f"ds={cfg.ds} cutoff={cutoff:%Y-%m-%d}: {len(retr)} retrieval rows, {len(heldout_rows)} held-out rows, "
        f"{user_vocab.n_trained} users, {item_vocab.n_trained}/{len(item_vocab) - 1} items trained/catalogue"
    )

    # --- retrieval inputs --------------------------------------------------------------------
    item_idx = item_vocab.lookup(retr["item_id"])
    counts = np.bincount(item_idx, minlength=len(item_vocab)).astype(np.float64)
    item_prob = (counts / counts.sum())[item_idx].astype(np.float32)
    hist_idx, hist_mask = history_arrays(
        recent_lists(retr), item_vocab, cfg.history_len, drop=list(retr["item_id"])
    )
    retr_inputs = {
        "user_idx": user_vocab.lookup(retr["user_id"]),
        "history_idx": hist_idx,
        "history_mask": hist_mask,
        "user_features": train_uf[is_retr],
    }
    n_uf = retr_inputs["user_features"].shape[1]
    timings["prepare_s"] = time.perf_counter() - t0

    query_tower = QueryTower(user_vocab.n_trained, item_vocab.n_trained, n_uf, dim=cfg.dim)
    candidate_tower = CandidateTower(item_vocab.n_trained, content, dim=cfg.dim)
    catalogue_idx = np.arange(1, len(item_vocab), dtype=np.int64)
    candidates = tf.data.Dataset.from_tensor_slices(catalogue_idx).batch(1024).map(candidate_tower)
    model = TwoTowerModel(
        query_tower,
        candidate_tower,
        retrieval_task(candidates, cfg.temperature),
        cfg.sampling_bias_correction,
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(cfg.learning_rate))

    dropout = cfg.user_id_dropout

    def _drop_user(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        # Randomly hide user ids so the OOV row learns a cold-start user and the tower leans on
        # history + features, which is all serving has for users unseen at training time.
        keep = tf.random.uniform(tf.shape(batch["user_idx"]), seed=cfg.seed) >= dropout
        return {**batch, "user_idx": tf.where(keep, batch["user_idx"], tf.zeros_like(batch["user_idx"]))}

    train_ds = (
        tf.data.Dataset.from_tensor_slices({**retr_inputs, "item_idx": item_idx, "item_prob": item_prob})
        .shuffle(len(retr), seed=cfg.seed, reshuffle_each_iteration=True)
        .batch(cfg.batch_size)
        .map(_drop_user)
        .prefetch(2)
    )
    epoch_times: list[float] = []

    class _EpochTimer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            epoch_times.append(time.perf_counter() - self._t)
            _log(f"  epoch {epoch + 1}: {epoch_times[-1]:.1f} s, loss {logs.get('loss', float('nan')):.2f}")

    _log(f"retrieval: {cfg.epochs} epochs, batch {cfg.batch_size}, dim {cfg.dim}")
    t = time.perf_counter()
    hist = model.fit(train_ds, epochs=cfg.epochs, verbose=0, callbacks=[_EpochTimer()])
    timings["retrieval_train_s"] = time.perf_counter() - t
    timings["retrieval_s_per_epoch"] = float(np.mean(epoch_times))
    # TFRS reports the summed in-batch loss; divide by the batch size for a per-example figure.
    retrieval_losses = [v / cfg.batch_size for v in hist.history["loss"]]

    # --- evaluation ----------------------------------------------------------------------------
    t = time.perf_counter()
    item_emb = np.zeros((len(item_vocab), cfg.dim), np.float32)
    item_emb[1:] = np.concatenate(
        [
            candidate_tower(tf.constant(catalogue_idx[i : i + 4096])).numpy()
            for i in range(0, len(catalogue_idx), 4096)
        ]
    )
    eval_set = build_eval_set(
        inputs.interactions, train_rows, cutoff, end, cfg.history_len, list(USER_VECTOR_NAMES)
    )
    if len(eval_set) == 0:
        raise ValueError(
            f"no evaluation users: no positive interactions in [{cutoff:%Y-%m-%d}, {end:%Y-%m-%d})"
        )
    e_hist, e_mask = history_arrays(eval_set.histories, item_vocab, cfg.history_len)
    e_inputs = {
        "user_idx": user_vocab.lookup(eval_set.user_ids),
        "history_idx": e_hist,
        "history_mask": e_mask,
        "user_features": eval_set.user_features,
    }
    q_eval = query_tower.predict(e_inputs, batch_size=4096, verbose=0)
    exclude = index_lists(eval_set.exclude, item_vocab, unknown=0)
    heldout = index_lists(eval_set.heldout, item_vocab, unknown=-1)
    tr_users = user_vocab.lookup(retr["user_id"])
    user_item = pd.DataFrame({"u": tr_users, "i": item_idx}).drop_duplicates()
    item_user_counts = np.bincount(user_item["i"], minlength=len(item_vocab))
    n_train_users = user_vocab.n_trained
    pop = evaluation.popularity_scores(item_idx, len(item_vocab))
    scorers = {
        "two_tower": lambda rows: q_eval[rows] @ item_emb.T,
        "most_popular": lambda rows: np.broadcast_to(pop, (len(rows), len(pop))),
    }
    if len(item_vocab) <= MAX_COOC_ITEMS:
        sim = evaluation.cooccurrence_similarity(
            user_item["u"].to_numpy(), user_item["i"].to_numpy(), n_train_users + 1, len(item_vocab)
        )
        scorers["cooccurrence"] = evaluation.cooccurrence_scorer(sim, exclude, pop)
    else:  # a dense item x item matrix would not fit in memory
        _log(f"  co-occurrence baseline skipped: {len(item_vocab)} items > {MAX_COOC_ITEMS}")
    retrieval_metrics, curves = evaluation.compare_retrieval(
        scorers, exclude, heldout, item_user_counts, n_train_users
    )
    timings["evaluation_s"] = time.perf_counter() - t
    for name, m in retrieval_metrics.items():
        _log(
            f"  {name:13s} recall@10 {m['recall@10']:.4f} recall@100 {m['recall@100']:.4f} ndcg@10 {m['ndcg@10']:.4f}"
        )

    # --- ranker ---------------------------------------------------------------------------------
    t = time.perf_counter()

    def ranker_inputs(rows: pd.DataFrame, uf: np.ndarray) -> dict[str, np.ndarray]:
        h_idx, h_mask = history_arrays(
            recent_lists(rows), item_vocab, cfg.history_len, drop=list(rows["item_id"])
        )
        q_in = {
            "user_idx": user_vocab.lookup(rows["user_id"]),
            "history_idx": h_idx,
            "history_mask": h_mask,
            "user_features": uf,
        }
        rating = pd.to_numeric(rows["rating"], errors="coerce").to_numpy(dtype=np.float64)
        return {
            "user_features": q_in["user_features"],
            "item_features": item_matrix(rows),
            "query_embedding": query_tower.predict(q_in, batch_size=4096, verbose=0),
            "item_embedding": item_emb[item_vocab.lookup(rows["item_id"])],
            "rating": np.nan_to_num(rating, nan=0.0).astype(np.float32)[:, None],
            "has_rating": (~np.isnan(rating)).astype(np.float32)[:, None],
            "label": rows["label"].to_numpy(dtype=np.float32)[:, None],
        }

    r_train = ranker_inputs(train_rows, train_uf)
    n_if = r_train["item_features"].shape[1]
    ranker = Ranker()
    ranking_model = RankingModel(ranker)
    ranking_model.compile(optimizer=tf.keras.optimizers.Adam(0.003))
    r_hist = ranking_model.fit(
        tf.data.Dataset.from_tensor_slices(r_train)
        .shuffle(len(train_rows), seed=cfg.seed)
        .batch(cfg.batch_size),
        epochs=cfg.ranker_epochs,
        verbose=0,
    )
    ranker_metrics: dict[str, float] = {}
    if len(heldout_rows):
        r_test = ranker_inputs(heldout_rows, user_matrix(heldout_rows))
        preds = ranker.predict(
            {k: r_test[k] for k in ("user_features", "item_features", "query_embedding", "item_embedding")},
            batch_size=8192,
            verbose=0,
        )
        train_rated = r_train["has_rating"][:, 0] > 0
        mean_rating = float(r_train["rating"][train_rated, 0].mean()) if train_rated.any() else 0.0
        ranker_metrics = evaluation.ranker_metrics(
            preds, r_test["rating"], r_test["has_rating"], r_test["label"], mean_rating, cfg.value_weights
        )
    timings["ranker_s"] = time.perf_counter() - t
    _log(f"  ranker: {json.dumps({k: round(v, 4) for k, v in ranker_metrics.items()})}")

    # --- export ---------------------------------------------------------------------------------
    t = time.perf_counter()
    version = new_version(cfg.ds)
    staging = Path(cfg.out_dir) if cfg.out_dir else settings.staging_dir
    staging.mkdir(parents=True, exist_ok=True)
    work = staging / f".{version}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    q_model = export.functional_query_model(query_tower, cfg.history_len, n_uf)
    r_model = export.functional_ranker(ranker, n_uf, n_if, cfg.dim)
    io = {
        "query_tower": export.to_onnx(
            q_model, export.query_tower_signature(cfg.history_len, n_uf), work / QUERY_TOWER_FILE
        ),
        "ranker": export.to_onnx(r_model, export.ranker_signature(n_uf, n_if, cfg.dim), work / RANKER_FILE),
    }
    q_feeds = export.query_parity_feeds(
        user_vocab.n_trained, item_vocab.n_trained, cfg.history_len, e_inputs["user_features"][:64]
    )
    rng = np.random.default_rng(cfg.seed)
    n_par = 64
    n_par = min(n_par, len(r_train["user_features"]))
    item_feats = r_train["item_features"][:n_par]
    if inputs.item_features is not None and len(inputs.item_features) >= n_par:
        # The latest item snapshot is what serving scores with: use it for the ranker parity inputs.
        latest = inputs.item_features.head(n_par).rename(columns=lambda c: f"{ITEM_STATS_VIEW}__{c}")
        item_feats = item_matrix(latest)
    r_feeds = {
        "user_features": r_train["user_features"][:n_par],
        "item_features": item_feats,
        "query_embedding": r_train["query_embedding"][:n_par],
        "item_embedding": item_emb[rng.integers(0, len(item_vocab), size=n_par)],
    }
    parity = {
        "query_tower": export.parity(q_model, work / QUERY_TOWER_FILE, q_feeds),
        "ranker": export.parity(r_model, work / RANKER_FILE, r_feeds),
    }
    _log(f"  ONNX parity max abs diff: {parity}")
    np.save(work / ITEM_EMBEDDINGS_FILE, item_emb)
    artifacts.write_json(work / USER_VOCAB_FILE, user_vocab.ids)
    artifacts.write_json(work / ITEM_VOCAB_FILE, item_vocab.ids)
    artifacts.write_json(work / ITEMS_FILE, artifacts.items_snapshot(inputs.dim_items))
    artifacts.write_json(
        work / POPULAR_FILE, artifacts.popular_lists(inputs.interactions, inputs.dim_items, end)
    )
    artifacts.write_json(
        work / NEIGHBOURS_COLLAB_FILE, artifacts.cosine_neighbours(item_emb, item_vocab.ids, cfg.neighbours)
    )
    artifacts.write_json(
        work / NEIGHBOURS_TEXT_FILE, artifacts.cosine_neighbours(content.text, item_vocab.ids, cfg.neighbours)
    )
    eval_set.to_frame().to_parquet(work / EVAL_SET_FILE, index=False)
    timings["export_s"] = time.perf_counter() - t

    # The gate re-evaluates bundles through ONNX; the candidate's own ONNX figure must match TF's.
    loaded = LoadedBundle(
        manifest=BundleManifest.model_construct(
            history_len=cfg.history_len, user_feature_names=list(USER_VECTOR_NAMES), onnx_models=io
        ),
        user_vocab=user_vocab,
        item_vocab=item_vocab,
        item_embeddings=item_emb,
        session=ort.InferenceSession(str(work / QUERY_TOWER_FILE)),
    )
    onnx_metrics, _ = evaluate_loaded(loaded, eval_set, item_user_counts, n_train_users)
    tt = retrieval_metrics["two_tower"]
    metrics = {f"two_tower_{k}": v for k, v in tt.items()}
    metrics.update({"recall@10": tt["recall@10"], "onnx_recall@10": onnx_metrics["recall@10"]})
    metrics.update({f"ranker_{k}": v for k, v in ranker_metrics.items() if np.isfinite(v)})
    metrics.update({f"parity_max_abs_diff_{k}": v for k, v in parity.items()})
    metrics["retrieval_s_per_epoch"] = timings["retrieval_s_per_epoch"]
    timings["total_s"] = time.perf_counter() - t0

    rep = {
        "bundle_version": version,
        "split": {
            "cutoff": f"{cutoff:%Y-%m-%d}",
            "end": f"{end:%Y-%m-%d}",
            "eval_days": cfg.eval_days,
            "n_catalogue": len(item_vocab) - 1,
            "n_train_rows": len(retr),
        },
        "retrieval": retrieval_metrics,
        "ranker": ranker_metrics,
        "parity": parity,
        "timings": timings,
        "losses": {"retrieval": retrieval_losses, "ranker": list(r_hist.history["loss"])},
        "config": json.loads(cfg.model_dump_json()),
        "value_model_weights": cfg.value_weights,
    }
    report.write(work, rep, curves, {"retrieval": retrieval_losses, "ranker": list(r_hist.history["loss"])})
    train_start = train_rows["event_timestamp"].min()
    manifest = BundleManifest(
        bundle_version=version,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        contracts_version=CONTRACTS_VERSION,
        training_data_start=f"{train_start:%Y-%m-%d}",
        training_data_end=f"{cutoff:%Y-%m-%d}",
        feature_services={"retrieval": RETRIEVAL_SERVICE, "ranker": RANKER_SERVICE},
        embedding_model=inputs.embedding_model,
        embedding_dim=inputs.embedding_dim,
        retrieval_dim=cfg.dim,
        history_len=cfg.history_len,
        user_feature_names=list(USER_VECTOR_NAMES),
        item_feature_names=list(ITEM_VECTOR_NAMES),
        value_model_weights=cfg.value_weights,
        onnx_models=io,
        metrics=metrics,
        baselines={k: v for k, v in retrieval_metrics.items() if k != "two_tower"},
        built_from={**inputs.sources, "ds": cfg.ds},
        file_checksums=artifacts.file_checksums(work),
    )
    (work / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2))
    final = staging / version
    os.replace(work, final)
    _log(
        f"bundle {version}: recall@10 two_tower {tt['recall@10']:.4f} (onnx {onnx_metrics['recall@10']:.4f}) vs "
        f"most_popular {retrieval_metrics['most_popular']['recall@10']:.4f}, cooccurrence "
        f"{retrieval_metrics.get('cooccurrence', {}).get('recall@10', float('nan')):.4f}; "
        f"{timings['retrieval_s_per_epoch']:.1f} s/epoch, "
        f"export {timings['export_s']:.1f} s, total {timings['total_s']:.1f} s"
    )
    return final


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--ds", required=True, help="data interval YYYY-MM-DD (reads training_sets/ds=<ds>)")
    p.add_argument("--eval-days", type=int, default=14, help="days held out at the end for evaluation")
    p.add_argument("--epochs", type=int, default=5, help="retrieval epochs")
    p.add_argument("--ranker-epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--dim", type=int, default=64, help="two-tower embedding dimension")
    p.add_argument("--learning-rate", type=float, default=0.005)
    p.add_argument("--temperature", type=float, default=0.2, help="softmax temperature (0 = none)")
    p.add_argument(
        "--no-bias-correction", action="store_true", help="disable the logQ sampling-bias correction"
    )
    p.add_argument(
        "--value-weights",
        type=parse_value_weights,
        default=dict(DEFAULT_VALUE_WEIGHTS),
        help="ranker head weights in the serving score, e.g. rating=0.5,p_positive=0.5",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--out-dir", type=Path, help="staging directory (default $LAMBDAREC_DATA_DIR/models/staging)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before anything imports TensorFlow
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError

    from training.bundle_eval import BundleError
    from training.data import InputError
    from training.settings import TrainingSettings

    try:
        cfg = TrainConfig(
            ds=args.ds,
            eval_days=args.eval_days,
            epochs=args.epochs,
            ranker_epochs=args.ranker_epochs,
            batch_size=args.batch_size,
            dim=args.dim,
            learning_rate=args.learning_rate,
            temperature=args.temperature or None,
            sampling_bias_correction=not args.no_bias_correction,
            value_weights=args.value_weights,
            seed=args.seed,
            out_dir=args.out_dir,
        )
        bundle = train_bundle(cfg, TrainingSettings())
    except (InputError, BundleError, ValidationError, ValueError) as exc:
        print(f"training failed: {exc}", file=sys.stderr)
        return 2
    print(bundle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
