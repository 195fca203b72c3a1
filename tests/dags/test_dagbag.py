"""DagBag checks: the DAGs import cleanly and follow the team's conventions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {
    "build_features_daily": [
        "ingest_raw",
        "dbt_build",
        "spark_features",
        "text_embeddings",
        "feast_materialize",
        "publish_history",
        "announce_features",
    ],
    "train_models": ["resolve_ds", "training_set", "train_and_evaluate", "publish_bundle"],
    "land_events_hourly": ["land_events"],
}
HEAVY_MODULES = {"pyspark", "tensorflow", "feast", "pandas", "numpy", "dbt", "redis", "pyarrow", "duckdb"}


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}


def test_expected_dags_and_tasks(dagbag) -> None:
    assert set(dagbag.dag_ids) == set(EXPECTED)
    for dag_id, tasks in EXPECTED.items():
        dag = dagbag.dags[dag_id]
        assert [t.task_id for t in dag.topological_sort()] == tasks, dag_id


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_conventions(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.owner == "data-team"
    assert "lambdarec" in dag.tags
    assert dag.doc_md and dag.doc_md.strip().startswith(f"### {dag_id}")
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    for t in dag.tasks:
        assert t.execution_timeout is not None, t.task_id
        assert t.doc_md, f"{dag_id}.{t.task_id} has no doc_md"
        if t.task_id != "dbt_build":  # data-quality failures are not retried
            assert t.retries >= 1 or __import__("os").environ.get("LAMBDAREC_DAG_RETRIES") == "0", t.task_id
    assert (DAGS_DIR / f"{dag_id}.py").exists(), "DAG id = file name"


def test_dbt_failures_are_not_retried(dagbag) -> None:
    assert dagbag.dags["build_features_daily"].get_task("dbt_build").retries == 0


def test_training_runs_in_the_training_environment(dagbag) -> None:
    task = dagbag.dags["train_models"].get_task("train_and_evaluate")
    assert task.python.endswith("/training/bin/python")
    assert task.expect_airflow is False


def test_assets_chain_features_to_training(dagbag) -> None:
    features = dagbag.dags["build_features_daily"]
    train = dagbag.dags["train_models"]
    produced = {a.uri for t in features.tasks for a in t.outlets}
    assert "lambdarec://features/online" in produced
    consumed = {a.uri for a in train.timetable.asset_condition.objects}
    assert consumed == {"lambdarec://features/online"}


@pytest.mark.parametrize("path", sorted(DAGS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_no_heavy_imports_at_module_level(path: Path) -> None:
    """DAG files are parsed often: heavy libraries may only be imported inside tasks."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for n in names:
            assert n.split(".")[0] not in HEAVY_MODULES, f"{path.name} imports {n} at module level"


@pytest.mark.parametrize("bad", ["2026-01-01; rm -rf /", "$(id)", "2026-13-01", "yesterday", 20260101])
def test_train_models_refuses_conf_that_is_not_a_date(dagbag, bad) -> None:
    # conf.ds used to be templated straight into the training_set bash command.
    from types import SimpleNamespace

    resolve = dagbag.dags["train_models"].get_task("resolve_ds").python_callable
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        resolve(dag_run=SimpleNamespace(conf={"ds": bad}), params={})
    assert resolve(dag_run=SimpleNamespace(conf={"ds": "2026-01-31"}), params={}) == "2026-01-31"


def test_xcom_values_reach_bash_only_through_env(dagbag) -> None:
    dag = dagbag.dags["train_models"]
    for task_id in ("training_set", "publish_bundle"):
        task = dag.get_task(task_id)
        assert "xcom_pull" not in task.bash_command and "xcom_pull" in str(task.env), task_id


SPARK_TASKS = {
    "build_features_daily": ["spark_features", "feast_materialize"],
    "train_models": ["training_set"],
}


def test_spark_steps_take_spark_settings_from_the_worker_or_the_run(dagbag, tmp_path: Path) -> None:
    """Every Spark step carries the run-conf overrides in its env (never in the command text), and
    its bash prologue exports them over the worker's SPARK_* settings, or keeps the worker's."""
    import os
    import subprocess

    from dags.lambdarec_common import SPARK_SETTINGS, spark_cli

    for dag_id, task_ids in SPARK_TASKS.items():
        for task_id in task_ids:
            task = dagbag.dags[dag_id].get_task(task_id)
            assert "dag_run" not in task.bash_command, task_id
            for key, var in SPARK_SETTINGS.items():
                assert f"'{key}'" in task.env[f"LAMBDAREC_RUN_{var}"], (task_id, key)
                assert f"LAMBDAREC_RUN_{var}" in task.bash_command, (task_id, var)
            assert task.append_env, task_id

    fake_python = tmp_path / "python"
    fake_python.write_text(
        '#!/bin/sh\necho "$SPARK_MASTER|$SPARK_DRIVER_MEMORY|${SPARK_EXECUTOR_MEMORY:-unset}"\n'
    )
    fake_python.chmod(0o755)
    base = {"PATH": os.environ["PATH"], "LAMBDAREC_PIPELINE_PYTHON": str(fake_python)}
    worker = {**base, "SPARK_MASTER": "local[*]", "SPARK_DRIVER_MEMORY": "2g"}

    def run(env: dict[str, str]) -> str:
        cmd = spark_cli("pipeline", "jobs.features")
        return subprocess.run(
            ["bash", "-c", cmd], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert run({**worker, "LAMBDAREC_RUN_SPARK_MASTER": "", "LAMBDAREC_RUN_SPARK_EXECUTOR_MEMORY": ""}) == (
        "local[*]|2g|unset"
    )
    overridden = {**worker, "LAMBDAREC_RUN_SPARK_MASTER": "spark://spark-master:7077",
                  "LAMBDAREC_RUN_SPARK_EXECUTOR_MEMORY": "3g"}  # fmt: skip
    assert run(overridden) == "spark://spark-master:7077|2g|3g"
