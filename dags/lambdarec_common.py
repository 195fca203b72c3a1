"""Shared settings of lambdarec's DAGs: default args, assets, environment-aware commands.

Only cheap definitions live here (no I/O, no heavy imports): Airflow parses the DAG
files often. Every step of the pipeline is a CLI of its own component, run in the
environment it belongs to (pipeline, embed, training), so the DAGs stay thin and a
step can be re-run by hand with the same flags.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import Asset

REPO_ROOT = Path(__file__).resolve().parents[1]
# Early enough for any data interval (MovieLens 100k is from 1997): a logical date before a
# task's start_date silently skips the task and marks the run successful.
START_DATE = datetime(1995, 1, 1, tzinfo=UTC)
OWNER = "data-team"

FEATURES_ASSET = Asset(name="lambdarec_online_features", uri="lambdarec://features/online")
BUNDLE_ASSET = Asset(name="lambdarec_model_bundle", uri="lambdarec://models/current")
LANDED_EVENTS_ASSET = Asset(name="lambdarec_landed_events", uri="lambdarec://events/landed")

DEFAULT_ARGS = {
    "owner": OWNER,
    # LAMBDAREC_DAG_RETRIES=0 in tests and one-shot demo runs: fail fast instead of backing off.
    "retries": int(os.environ.get("LAMBDAREC_DAG_RETRIES", "2")),
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(hours=2),
}
# Weekly feature snapshots kept before ds. The training set spans at least the days they serve
# and reaches further back, a day at a time, while it holds at most TRAINING_WINDOW_ROWS
# interactions (at most a year): sparse data trains on its whole history, dense data on its recent
# weeks. Interactions older than the first snapshot join no feature row (as a user the online
# store did not know yet), which is still point-in-time correct.
SNAPSHOT_WEEKS = int(os.environ.get("LAMBDAREC_FEATURE_SNAPSHOT_WEEKS", "8"))
TRAINING_WINDOW_DAYS = 7 * SNAPSHOT_WEEKS  # the shortest window
TRAINING_WINDOW_ROWS = int(os.environ.get("LAMBDAREC_TRAINING_WINDOW_ROWS", "500000"))

# Data-quality failures are deterministic: retrying a failed dbt test cannot fix the data.
NO_RETRY = {"retries": 0}


def python_of(env: str) -> str:
    """Shell expression for an environment's python, resolved when the task runs.

    ``LAMBDAREC_<ENV>_PYTHON`` overrides it (container images install each env elsewhere).
    """
    return f'"${{LAMBDAREC_{env.upper()}_PYTHON:-${{LAMBDAREC_VENVS:-{REPO_ROOT}/.venvs}}/{env}/bin/python}}"'


# The Spark steps (jobs.features, jobs.materialize, jobs.training_set) read these from their
# environment: the worker's (local[*] and 2g by default; SPARK_MASTER=spark://host:7077 on a
# cluster), or a run's conf, e.g. {"spark_master": "spark://spark-master:7077",
# "spark_executor_memory": "4g"}. Conf values reach bash only as environment variables, and
# jobs.features.settings validates them before a JVM starts.
SPARK_SETTINGS = {
    "spark_master": "SPARK_MASTER",
    "spark_driver_memory": "SPARK_DRIVER_MEMORY",
    "spark_executor_memory": "SPARK_EXECUTOR_MEMORY",
}


def spark_env() -> dict[str, str]:
    """BashOperator ``env`` (with ``append_env=True``): each run-conf override, empty when not given."""
    return {
        f"LAMBDAREC_RUN_{var}": f"{{{{ (dag_run.conf or {{}}).get('{key}', '') if dag_run else '' }}}}"
        for key, var in SPARK_SETTINGS.items()
    }


def spark_cli(env: str, module: str, *args: str) -> str:
    """``cli`` for a Spark step: a run's conf overrides the worker's Spark settings."""
    overrides = "".join(
        f'if [ -n "${{LAMBDAREC_RUN_{var}:-}}" ]; then export {var}="$LAMBDAREC_RUN_{var}"; fi; '
        for var in SPARK_SETTINGS.values()
    )
    return cli(env, module, *args).replace(f"cd {REPO_ROOT}; ", f"cd {REPO_ROOT}; {overrides}", 1)


def cli(env: str, module: str, *args: str) -> str:
    """A bash command that runs ``python -m module args`` from the repo root, failing loudly."""
    return f"set -euo pipefail; cd {REPO_ROOT}; exec {python_of(env)} -m {module} {' '.join(args)}"
