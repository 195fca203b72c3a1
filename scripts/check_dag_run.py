"""Fails unless the latest run of a DAG succeeded with every task run and successful.

`airflow dags test` exits 0 for a run whose tasks were never scheduled (e.g. a logical date
before their start_date); the pipeline must not take that for success.
    python scripts/check_dag_run.py DAG_ID [TASK_ID ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _airflow_json(*args: str) -> list[dict]:
    airflow = str(Path(sys.executable).parent / "airflow")
    out = subprocess.run([airflow, *args, "-o", "json"], capture_output=True, text=True, env=os.environ)
    if out.returncode != 0:
        raise SystemExit(f"airflow {' '.join(args)} failed: {out.stderr[-800:]}")
    line = next((ln for ln in reversed(out.stdout.splitlines()) if ln.startswith("[")), "[]")
    return json.loads(line)


def main() -> int:
    dag_id, *expected = sys.argv[1:]
    runs = _airflow_json("dags", "list-runs", dag_id)
    if not runs:
        print(f"{dag_id}: no run recorded", file=sys.stderr)
        return 1
    run = max(runs, key=lambda r: r["run_after"])
    states = {
        t["task_id"]: t["state"] for t in _airflow_json("tasks", "states-for-dag-run", dag_id, run["run_id"])
    }
    bad = {t: s for t, s in states.items() if s != "success"}
    missing = [t for t in expected if t not in states]
    if run["state"] != "success" or bad or missing or not states:
        print(
            f"{dag_id} run {run['run_id']}: state={run['state']} tasks={states} missing={missing}",
            file=sys.stderr,
        )
        return 1
    print(f"{dag_id}: {len(states)} tasks succeeded ({', '.join(states)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
