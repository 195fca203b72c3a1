"""Training inputs made by the production feature code, for the training tests (pipeline env).

    python -m testing_support.training_inputs --data-dir DIR --ds 2024-02-29 \
        [--users 150 --items 90 --interactions 4000 --days 60 --seed 3 --snapshot-weeks 8]

The training env has no Spark or Feast, so its tests cannot compute features themselves; instead
``tests/training/conftest.py`` runs this once per test session with the pipeline env's python.
It runs what the ``build_features_daily`` and ``train_models`` DAGs run, on small synthetic marts:

1. marts and text embeddings from ``training.synthetic.generate`` (seeded; the marts' contract
   columns, genres already canonical as dbt staging leaves them);
2. ``jobs.features`` (the Spark transforms): the snapshot of ``ds`` plus weekly snapshots back
   ``--snapshot-weeks`` weeks, as the DAG's backfill does;
3. ``feast apply`` on the project's ``feature_repo/`` (SQLite registry in the data dir) and
   ``jobs.training_set`` (the point-in-time join, with the job's default engine) over the DAG's
   training window.

So a change of a feature definition in ``jobs/features/transforms.py`` changes the data the
training tests train on, and breaks the tests that depend on it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

# The DAGs' defaults (dags/lambdarec_common.py): weekly snapshots and the window they cover.
SNAPSHOT_WEEKS = 8
_SIZE_FLAGS = {
    "users": ("n_users", 150),
    "items": ("n_items", 90),
    "interactions": ("n_interactions", 4000),
    "days": ("days", 60),
    "seed": ("seed", 3),
}


def write_marts(data_dir: Path, ds: str, **sizes: int) -> None:
    """Synthetic marts and text embeddings where the batch layer keeps them."""
    from training.synthetic import generate

    frames = generate(ds, **sizes)
    marts = data_dir / "marts"
    marts.mkdir(parents=True, exist_ok=True)
    for name in ("dim_items", "dim_users", "fct_interactions"):
        frames[name].to_parquet(marts / f"{name}.parquet", index=False)
    # Synthetic vectors (a noisy view of the items' latent factors), stamped by the embeddings
    # job's own rule so Feast's point-in-time join sees them as it would in production.
    from jobs.embeddings.run import plan_embeddings

    emb = frames["embeddings"]
    docs = emb[["item_id", "content_hash"]].merge(
        frames["dim_items"][["item_id", "first_seen_ts"]], on="item_id"
    )
    model = str(emb["embedding_model"].iloc[0])
    plan = plan_embeddings(docs, None, model, len(emb["embedding"].iloc[0]), dt.date.fromisoformat(ds))
    emb = emb.merge(plan[["item_id", "event_timestamp"]], on="item_id")
    emb_dir = data_dir / "embeddings"
    emb_dir.mkdir(parents=True, exist_ok=True)
    emb.to_parquet(emb_dir / "item_text_embeddings.parquet", index=False)


def build(data_dir: Path, ds: dt.date, snapshot_weeks: int, **sizes: int) -> Path:
    """Marts -> Spark feature snapshots -> Feast point-in-time training set; returns its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["LAMBDAREC_DATA_DIR"] = str(data_dir)  # read by every job's settings below
    write_marts(data_dir, ds.isoformat(), **sizes)

    from jobs.features.compute import main as features_main

    backfill_from = ds - dt.timedelta(days=7 * snapshot_weeks)
    argv = ["--ds", ds.isoformat(), "--backfill-from", backfill_from.isoformat(), "--every", "7"]
    if features_main(argv) != 0:
        raise SystemExit(f"jobs.features {' '.join(argv)} failed (see its stderr)")

    from feature_repo.feast_cli import run_feast
    from feature_repo.feast_settings import FeastSettings
    from jobs.training_set import main as training_set_main
    from lambdarec_contracts.tables import TRAINING_SET_FILE

    # No online store is touched (apply registers the repo; the join reads the offline files), so
    # an unreachable Redis keeps any real one out of it.
    os.environ["REDIS_URL"] = "redis://127.0.0.1:1/0"
    settings = FeastSettings()
    applied = run_feast(["apply"], settings, capture=True)
    if applied.returncode != 0:
        raise SystemExit(f"feast apply failed:\n{applied.stdout[-2000:]}{applied.stderr[-2000:]}")
    # The job with its default engine, as the train_models DAG runs it, over the DAG's window.
    start = ds - dt.timedelta(days=7 * snapshot_weeks - 1)
    argv = ["--ds", ds.isoformat(), "--start", start.isoformat()]
    if training_set_main(argv) != 0:
        raise SystemExit(f"jobs.training_set {' '.join(argv)} failed (see its stderr)")
    return settings.training_sets_dir / f"ds={ds.isoformat()}" / TRAINING_SET_FILE


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m testing_support.training_inputs", description=__doc__.splitlines()[0]
    )
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--ds", type=dt.date.fromisoformat, required=True)
    # flag -> (keyword of training.synthetic.generate, default): the tests' tiny data set
    for flag, (_, default) in _SIZE_FLAGS.items():
        p.add_argument(f"--{flag}", type=int, default=default)
    p.add_argument("--snapshot-weeks", type=int, default=SNAPSHOT_WEEKS)
    a = vars(p.parse_args(argv))
    sizes = {keyword: a[flag] for flag, (keyword, _) in _SIZE_FLAGS.items()}
    path = build(a["data_dir"], a["ds"], a["snapshot_weeks"], **sizes)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
