"""Train, evaluate and export a candidate model bundle for one data interval.

    python -m training.train --ds YYYY-MM-DD [--epochs N] [--out-dir DIR] [...]   (--help lists all)

The run is a sequence of named steps, each returning a small dataclass:

    load inputs → prepare (per-user temporal splits, vocabularies)   training/prepare.py
    → fit retrieval (two-tower) on the base period                   training/retrieval.py
    → fit ranker (served-like candidates, value weights)             training/ranker_fit.py
    → fit retrieval on the whole training period (judged, served)
    → evaluate baselines (most-popular, item-kNN, EASE, two-tower)   training/baselines.py
    → write the bundle, replay serving over the evaluation users     training/bundle_write.py, served_eval.py
    → refit the generators on all data, report, manifest             training/report.py

The bundle is written to ``<out-dir or $LAMBDAREC_DATA_DIR/models/staging>/<version>/`` (built
under a hidden partial name and renamed when complete); its path is the last line printed.
Publishing (the quality gate) is a separate step: ``python -m training.publish``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import TrainConfig, build_parser
from .log import log, release_free_memory, rss_mb

SERVED = "served"


def new_version(ds: str, now: dt.datetime | None = None) -> str:
    """Sortable bundle version: UTC build time, then the data interval."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-ds{ds.replace('-', '')}"


def run(ds: str, epochs: int | None = None, **overrides: Any) -> Path:
    """Build a candidate bundle for ``ds`` and return its directory (what the Airflow DAG calls)."""
    cfg = TrainConfig(ds=ds, **({"epochs": epochs} if epochs else {}), **overrides)
    from .settings import TrainingSettings

    return train_bundle(cfg, TrainingSettings())


def train_bundle(cfg: TrainConfig, settings: Any) -> Path:
    """The whole run; every step is a function of the previous steps' results."""
    from .data import load_inputs

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    # Inputs first: a missing partition fails in a second, before TensorFlow is even imported.
    inputs = load_inputs(settings.data_dir, cfg.ds)
    import tensorflow as tf

    from .baselines import eval_users, evaluate_baselines
    from .prepare import prepare
    from .ranker_fit import fit_ranker
    from .retrieval import fit_retrieval, user_state_at

    tf.keras.utils.set_random_seed(cfg.seed)

    def step(name: str, fn: Any, *args: Any) -> Any:
        t = time.perf_counter()
        out = fn(*args)
        timings[f"{name}_s"] = round(time.perf_counter() - t, 2)
        release_free_memory()
        now, peak = rss_mb()
        log(f"step {name}: {timings[f'{name}_s']:.1f} s, RSS {now:,.0f} MB (peak so far {peak:,.0f} MB)")
        return out

    prep = step("prepare", prepare, inputs, cfg)
    log(
        f"ds={cfg.ds}: {len(prep.split.train)} training / {len(prep.split.heldout)} held-out interactions, "
        f"{len(prep.split.eval_users)} evaluation users, {len(prep.item_vocab) - 1} items"
    )
    # The ranker learns from candidates offered at the base cut-off, so it gets the two-tower
    # model of the base period; what is judged and served is fit on the whole training period
    # (as fresh at the hold-out point as the item-to-item generators it is blended with).
    base_retrieval = step("retrieval_base", fit_retrieval, prep, cfg)
    ranker = step("ranker", fit_ranker, prep, base_retrieval, cfg, inputs.training_set)
    prep.drop_ranker_inputs()
    del base_retrieval
    retrieval = step("retrieval", fit_retrieval, prep, cfg, prep.served_retrieval_rows)
    ev = eval_users(prep, cfg)
    recent, feats = user_state_at(prep, prep.split.train, ev.user_ids, cfg, inputs.training_set)
    queries = retrieval.queries(prep, ev.user_ids, recent, feats, cfg)
    # The generators judged in the served blend, fit once with the baselines (same split).
    retrieval_metrics, curves, eval_models = step(
        "baselines_and_generators", evaluate_baselines, prep, ev, cfg, queries, retrieval.item_emb
    )
    staging = Path(cfg.out_dir) if cfg.out_dir else settings.staging_dir
    return _write_and_judge(
        cfg, inputs, prep, retrieval, ranker, ev, eval_models, retrieval_metrics, curves, staging, timings, t0
    )


def _write_and_judge(
    cfg, inputs, prep, retrieval, ranker, ev, eval_models, retrieval_metrics, curves, staging, timings, t0
) -> Path:  # noqa: ANN001, PLR0913 - the steps' results
    import pandas as pd

    from lambdarec_contracts.item_activity import day_number

    from . import report
    from .bundle_write import write_generators, write_manifest, write_models, write_static
    from .ranker_data import fit_generators
    from .served_eval import replay, user_states

    version = new_version(cfg.ds)
    staging.mkdir(parents=True, exist_ok=True)
    work = staging / f".{version}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    t = time.perf_counter()
    write_static(work, prep, retrieval, inputs, cfg)
    io, parity = write_models(work, prep, retrieval, ranker, cfg)
    end = prep.split.train["event_ts"].max() + pd.Timedelta(seconds=1)
    write_generators(work, eval_models, prep.split.train, inputs, end)
    write_manifest(work, version, prep, inputs, cfg, io, ranker.value_weights, {}, {})
    timings["export_s"] = round(time.perf_counter() - t, 2)

    # What is served, judged: serving's pipeline over the evaluation users, on this bundle.
    cut = prep.split.cut_ts.reindex(ev.user_ids)
    served = replay(
        work,
        ev,
        prep.item_vocab.ids,
        user_states(ev, inputs.training_set, cut, inputs.training_set_path),
        prep.activity,
        day_number(cut),
    )
    timings["served_replay_s"] = round(served.seconds, 2)
    results = {SERVED: served.metrics, **retrieval_metrics}
    curves = {SERVED: served.curve, **curves}
    for name, m in results.items():
        log(
            f"  {name:13s} recall@10 {m['recall@10']:.4f} ndcg@10 {m['ndcg@10']:.4f} coverage@10 {m['coverage@10']:.4f}"
        )

    # Publish what was judged, with the item-to-item generators and popularity refit on all data
    # (the two-tower model and the ranker stay as evaluated).
    write_generators(
        work,
        fit_generators(prep, prep.interactions, cfg),
        prep.interactions,
        inputs,
        prep.interactions["event_ts"].max() + pd.Timedelta(seconds=1),
    )
    metrics = summary_metrics(results, ranker.metrics, parity, retrieval)
    timings["total_s"] = round(time.perf_counter() - t0, 2)
    rep = {
        "bundle_version": version,
        "split": {
            "protocol": f"per-user temporal hold-out, last {cfg.holdout_frac:.0%} of each user's interactions",
            "n_eval_users": len(ev.user_ids),
            "n_catalogue": len(prep.item_vocab) - 1,
            "n_train_interactions": len(prep.split.train),
        },
        "served": {
            "generator_share@10": served.generator_share,
            "degraded_share": served.degraded_share,
            "seen_items_served": served.seen_served,
            "examples": served.examples,
        },
        "retrieval": results,
        "ranker": ranker.metrics,
        "value_model_weights": ranker.value_weights,
        "parity": parity,
        "timings": timings,
        "peak_rss_mb": round(rss_mb()[1]),
        "losses": {"retrieval": retrieval.losses, "ranker": ranker.losses},
        "config": json.loads(cfg.model_dump_json()),
    }
    report.write(work, rep, curves, rep["losses"])
    baselines = {k: v for k, v in results.items() if k != SERVED}
    write_manifest(work, version, prep, inputs, cfg, io, ranker.value_weights, metrics, baselines)
    final = staging / version
    os.replace(work, final)
    log(report.served_table(rep))
    log(f"bundle {version}: total {timings['total_s']:.1f} s, peak RSS {rep['peak_rss_mb']:,} MB")
    return final


def summary_metrics(
    results: dict[str, dict[str, float]], ranker: dict[str, float], parity: dict[str, float], retrieval: Any
) -> dict[str, float]:
    """The manifest's flat metrics; ``served_lift@10`` (served / best of EASE and item-kNN) drives the gate."""
    s = results[SERVED]
    metrics = {f"served_{k}": v for k, v in s.items()}
    best = max((results[b]["recall@10"] for b in ("ease", "item_knn") if b in results), default=0.0)
    if best > 0:
        metrics["served_lift@10"] = s["recall@10"] / best
    if "two_tower" in results:
        metrics.update({f"two_tower_{k}": v for k, v in results["two_tower"].items()})
    metrics["recall@10"] = s["recall@10"]
    metrics.update({f"ranker_{k}": v for k, v in ranker.items() if v == v})
    metrics.update({f"parity_max_abs_diff_{k}": v for k, v in parity.items()})
    metrics["retrieval_s_per_epoch"] = retrieval.s_per_epoch
    metrics["retrieval_examples_per_s"] = retrieval.examples_per_s
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser(__doc__.split("\n\n")[0]).parse_args(argv)
    from pydantic import ValidationError

    from .bundle_eval import BundleError
    from .data import InputError
    from .settings import TrainingSettings

    try:
        cfg = TrainConfig(**vars(args))
        bundle = train_bundle(cfg, TrainingSettings())
    except (InputError, BundleError, ValidationError, ValueError) as exc:
        print(f"training failed: {exc}", file=sys.stderr)
        return 2
    print(bundle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
