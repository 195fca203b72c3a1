"""
### train_models

Trains, evaluates and publishes a model bundle. Scheduled on the **lambdarec_online_features**
asset (each fresh feature build), and triggerable by hand (conf `{"ds": "YYYY-MM-DD"}`).

`resolve_ds` (which data interval) → `training_set` (Feast point-in-time training set from the
`retrieval_v1` / `ranker_v1` feature services) → `train_and_evaluate` (TFRS two-tower retrieval +
multi-head ranker in the training environment, run as an external Python; time-based evaluation
against popularity and co-occurrence baselines; ONNX export with a parity check) →
`publish_bundle` (**quality gate**: refuses a bundle whose Recall@10 is worse than the published
one's beyond the tolerance; with the Redis vector backend, the bundle's HNSW index in Redis
first; atomic pointer flip) → emits **lambdarec_model_bundle**, which
serving hot-swaps without a restart.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag, task

from dags.lambdarec_common import (
    BUNDLE_ASSET,
    DEFAULT_ARGS,
    FEATURES_ASSET,
    REPO_ROOT,
    START_DATE,
    TRAINING_WINDOW_DAYS,
    TRAINING_WINDOW_ROWS,
    cli,
    spark_cli,
    spark_env,
)

TRAINING_PYTHON = os.environ.get(
    "LAMBDAREC_TRAINING_PYTHON", str(REPO_ROOT / ".venvs" / "training" / "bin" / "python")
)


_DS = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def valid_ds(value: object, source: str) -> str:
    """A YYYY-MM-DD date from conf / an asset event, or ValueError: it ends up on a command line."""
    text = str(value)
    try:
        if not _DS.fullmatch(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{source} ds must be a date YYYY-MM-DD, got {text[:40]!r}") from None
    return text


def _train(train_ds: str, epochs: str) -> str:
    """Runs in the training environment (TensorFlow); returns the staged bundle's path."""
    import os

    from training.train import run  # the training package sets TF_USE_LEGACY_KERAS

    epochs = epochs or os.environ.get("LAMBDAREC_TRAIN_EPOCHS", "")
    return str(run(ds=train_ds, epochs=int(epochs) if epochs else None))


@dag(
    dag_id="train_models",
    schedule=[FEATURES_ASSET],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lambdarec", "batch", "training"],
    doc_md=__doc__,
    params={"ds": None, "epochs": None},
)
def train_models() -> None:
    @task(
        doc_md="The data interval to train on: the triggering asset event's `ds`, else conf, else the logical date."
    )
    def resolve_ds(*, dag_run=None, params=None, triggering_asset_events=None, logical_date=None) -> str:  # noqa: ANN001
        for events in (triggering_asset_events or {}).values():
            for event in reversed(list(events)):
                if (event.extra or {}).get("ds"):
                    return valid_ds(event.extra["ds"], "asset event")
        conf = (dag_run.conf or {}) if dag_run else {}
        ds = conf.get("ds") or (params or {}).get("ds")
        if ds:
            return valid_ds(ds, "conf")
        if logical_date is None:
            raise ValueError('no ds: trigger with conf {"ds": "YYYY-MM-DD"} or through the features asset')
        return logical_date.strftime("%Y-%m-%d")

    ds = resolve_ds()

    training_set = BashOperator(
        task_id="training_set",
        doc_md="Point-in-time training set over the feature services (Spark as-of join, equal to Feast's "
        "`get_historical_features`): one row per interaction of a window adapted to the data's density "
        f"(at least {TRAINING_WINDOW_DAYS} days, further back while it holds at most {TRAINING_WINDOW_ROWS:,} "
        "interactions, at most a year).",
        # Values reach bash as environment variables, never as command text.
        bash_command=spark_cli(
            "pipeline",
            "jobs.training_set",
            '--ds "$TRAIN_DS"',
            f"--min-days {TRAINING_WINDOW_DAYS} --max-rows {TRAINING_WINDOW_ROWS}",
        ),
        env={
            "TRAIN_DS": "{{ ti.xcom_pull(task_ids='resolve_ds') }}",
            **spark_env(),
        },
        append_env=True,
    )

    train_and_evaluate = task.external_python(
        task_id="train_and_evaluate",
        python=TRAINING_PYTHON,
        expect_airflow=False,
        execution_timeout=timedelta(hours=3),
        doc_md="TFRS training, evaluation and ONNX export in the training environment.",
    )(_train)(ds, "{{ params.epochs or '' }}")

    publish_bundle = BashOperator(
        task_id="publish_bundle",
        doc_md="Quality gate, the bundle's vectors into Redis (LAMBDAREC_VECTOR_BACKEND=redis) and the "
        "atomic publish of the staged bundle. Pipeline env: numpy + redis, no TensorFlow needed.",
        bash_command=cli("pipeline", "training.publish", '--bundle "$BUNDLE_DIR"'),
        outlets=[BUNDLE_ASSET],
        env={"BUNDLE_DIR": "{{ ti.xcom_pull(task_ids='train_and_evaluate') }}"},
        append_env=True,
    )

    ds >> training_set >> train_and_evaluate >> publish_bundle


train_models()
