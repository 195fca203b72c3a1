"""
### build_features_daily

Turns the raw data of one day's snapshot into fresh online features.

`ingest_raw` (MovieLens files in `LAMBDAREC_RAW_DIR`, or the generated sample data) →
`dbt_build` (staging + marts, **with tests: a failing test stops the run here**, so the
online store keeps its last good values) → `spark_features` (user/item features as of the
end of `ds`, plus weekly snapshots for point-in-time training sets) → `text_embeddings`
(OpenAI when `OPENAI_API_KEY` is set, the local MiniLM model otherwise; incremental) →
`feast_materialize` (`feast apply` + materialization into Redis by a Spark job) →
emits the **lambdarec_online_features** asset, which schedules `train_models`.

The Spark steps run where `SPARK_MASTER` points (`local[*]` by default, a cluster's
`spark://host:7077`); a run's conf may override `spark_master`, `spark_driver_memory`,
`spark_executor_memory`.

Every task is idempotent for its data interval: re-running a day rewrites that day's
partitions and re-materializes the same values.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag, task
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable

from dags.lambdarec_common import (
    DEFAULT_ARGS,
    FEATURES_ASSET,
    NO_RETRY,
    REPO_ROOT,
    SNAPSHOT_WEEKS,
    START_DATE,
    cli,
    python_of,
    spark_cli,
    spark_env,
)


@dag(
    dag_id="build_features_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lambdarec", "batch", "features"],
    doc_md=__doc__,
)
def build_features_daily() -> None:
    ingest_raw = BashOperator(
        task_id="ingest_raw",
        doc_md="Load the raw MovieLens-format files into the canonical landing tables "
        "(generates the sample data first when `LAMBDAREC_RAW_DIR` is unset). Malformed rows are "
        "counted in `landing/ingest_report.json`; too many of them fail the task.",
        bash_command=(
            f"set -euo pipefail; cd {REPO_ROOT}; "
            'raw="${LAMBDAREC_RAW_DIR:-$LAMBDAREC_DATA_DIR/sample}"; '
            'if [ -z "${LAMBDAREC_RAW_DIR:-}" ] && [ ! -f "$raw/ratings.csv" ]; then '
            f'  {python_of("pipeline")} -m jobs.sample_data --out "$raw" --preset ${{LAMBDAREC_SAMPLE_PRESET:-small}}; '
            "fi; "
            f'exec {python_of("pipeline")} -m jobs.ingest --raw-dir "$raw"'
        ),
        execution_timeout=timedelta(hours=1),
    )
    dbt_build = BashOperator(
        task_id="dbt_build",
        doc_md="`dbt build`: staging and marts with their tests and unit tests. A failing test fails "
        "this task with the test's name in the log; nothing downstream runs and the exported marts "
        "stay as they were.",
        bash_command=(
            f"set -euo pipefail; cd {REPO_ROOT}; "
            f'dbt="$(dirname {python_of("pipeline")})/dbt"; '
            f'exec "$dbt" build --project-dir {REPO_ROOT}/dbt --profiles-dir {REPO_ROOT}/dbt '
            "--vars '{ds: \"{{ ds }}\"}'"
        ),
        **NO_RETRY,
    )
    spark_features = BashOperator(
        task_id="spark_features",
        doc_md="PySpark user and item features as of the end of `ds` (one `ds=` partition per "
        f"snapshot, overwritten on re-run), plus {SNAPSHOT_WEEKS} weekly snapshots before it so "
        "training sets can be point-in-time correct.",
        bash_command=spark_cli(
            "pipeline",
            "jobs.features",
            "--ds {{ ds }}",
            f"--backfill-from {{{{ macros.ds_add(ds, -{7 * SNAPSHOT_WEEKS}) }}}} --every 7",
        ),
        env=spark_env(),
        append_env=True,
    )
    text_embeddings = BashOperator(
        task_id="text_embeddings",
        doc_md="Embeds item texts (OpenAI API or the local model); only new or changed items are sent.",
        bash_command=cli("embed", "jobs.embeddings", "--ds {{ ds }}"),
    )
    feast_materialize = BashOperator(
        task_id="feast_materialize",
        doc_md="`feast apply` (idempotent) and materialization of the interval into the Redis online store.",
        bash_command=spark_cli(
            "pipeline",
            "jobs.materialize",
            "--apply",
            # Snapshot ds=D is stamped D+1 00:00; materialization covers (start, end].
            "--start {{ ds }}T00:00:00+00:00",
            "--end {{ macros.ds_add(ds, 1) }}T00:00:00+00:00",
        ),
        env=spark_env(),
        append_env=True,
    )

    publish_history = BashOperator(
        task_id="publish_history",
        doc_md="Every user's full interaction history as of `ds` into Redis (one string per user), "
        "for serving's seen filter: an item a user interacted with is never served. Idempotent per `ds`.",
        bash_command=cli("pipeline", "jobs.publish_history", "--ds {{ ds }}"),
    )

    @task(outlets=[FEATURES_ASSET], doc_md="Announces fresh online features for `ds` (asset event).")
    def announce_features(*, ds: str, outlet_events=None) -> str:  # noqa: ANN001 - Airflow context
        outlet_events[FEATURES_ASSET].extra = {"ds": ds}
        return ds

    announce = announce_features()
    ingest_raw >> dbt_build >> spark_features >> text_embeddings >> feast_materialize >> announce
    dbt_build >> publish_history >> announce


build_features_daily()
