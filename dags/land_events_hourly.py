"""
### land_events_hourly

Makes sure the speed layer's events of the hour are all landed as Parquet and registered for
the next batch run: fails (and retries with backoff) while the stream worker is still behind
the end of the interval, then compacts the hour's files into one deduplicated file with a
`_SUCCESS` marker. dbt's `stg_speed_layer__events` reads them on the next feature build.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable

from dags.lambdarec_common import DEFAULT_ARGS, LANDED_EVENTS_ASSET, START_DATE, cli


@dag(
    dag_id="land_events_hourly",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={
        **DEFAULT_ARGS,
        "retries": 2 * DEFAULT_ARGS["retries"] + 1 if DEFAULT_ARGS["retries"] else 0,
        "execution_timeout": timedelta(minutes=20),
    },
    tags=["lambdarec", "speed-layer", "events"],
    doc_md=__doc__,
)
def land_events_hourly() -> None:
    BashOperator(
        task_id="land_events",
        doc_md="Checks completeness of the hour's landed events and compacts them (idempotent).",
        bash_command=cli(
            "pipeline",
            "jobs.land_events",
            # The hour that starts at the logical date (scheduled runs: the data interval; manual
            # runs and `airflow dags test HOUR`: that hour, not the interval inferred before it).
            "--start {{ logical_date | ts }}",
            "--end {{ (logical_date + macros.timedelta(hours=1)) | ts }}",
        ),
        outlets=[LANDED_EVENTS_ASSET],
    )


land_events_hourly()
