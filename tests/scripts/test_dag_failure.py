"""scripts/dag_failure.py names the failing task and shows its own output or traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dag_failure.py"
HOOK = "[airflow.task.hooks.airflow.providers.standard.hooks.subprocess.SubprocessHook] loc=subprocess.py:106"


def _run(log: str, tmp_path: Path) -> str:
    f = tmp_path / "dag.log"
    f.write_text(log)
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(f)], capture_output=True, text=True, check=True
    ).stdout


def test_bash_task_output(tmp_path: Path) -> None:
    log = "\n".join(
        [
            "2026-01-01T00:00:00Z [info     ] [DAG TEST] running task <TaskInstance: build_features_daily.ingest_raw run [SCHEDULED]>",
            f"2026-01-01T00:00:01Z [info     ] ingested 10 rows {HOOK}",
            "2026-01-01T00:00:02Z [info     ] [DAG TEST] running task <TaskInstance: build_features_daily.dbt_build run [SCHEDULED]>",
            f"2026-01-01T00:00:03Z [info     ] Failure in test accepted_range_stg_movielens__interactions_rating {HOOK}",
            "2026-01-01T00:00:04Z [error    ] Task failed with exception     [task] loc=task_runner.py:1651",
            "Traceback (most recent call last):",
            "airflow.sdk.exceptions.AirflowException: Bash command failed. The command returned a non-zero exit code 1.",
            "2026-01-01T00:00:05Z [info     ] DagRun Finished",
        ]
    )
    out = _run(log, tmp_path)
    assert out.splitlines()[0] == "failed task: dbt_build"
    assert "Failure in test accepted_range_stg_movielens__interactions_rating" in out
    assert "ingested 10 rows" not in out  # another task's output


def test_python_task_traceback(tmp_path: Path) -> None:
    log = "\n".join(
        [
            "2026-01-01T00:00:00Z [info     ] [DAG TEST] running task <TaskInstance: train_models.train_and_evaluate run [SCHEDULED]>",
            "2026-01-01T00:00:04Z [error    ] Task failed with exception     [task] loc=task_runner.py:1651",
            "Traceback (most recent call last):",
            '  File "x.py", line 1, in <module>',
            "ValueError: no training rows before the cut-off",
            "2026-01-01T00:00:05Z [info     ] ::group::Post Execute",
        ]
    )
    out = _run(log, tmp_path)
    assert out.splitlines()[0] == "failed task: train_and_evaluate"
    assert out.strip().endswith("ValueError: no training rows before the cut-off")
