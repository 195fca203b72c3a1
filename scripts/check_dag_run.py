"""Fails unless the latest run of a DAG succeeded with every task run and successful; prints each
task's wall time, in the order the tasks ran.

`airflow dags test` exits 0 for a run whose tasks were never scheduled (e.g. a logical date
before their start_date); the pipeline must not take that for success.
    python scripts/check_dag_run.py DAG_ID [TASK_ID ...]

Reads Airflow's metadata database through Airflow's own models, in this one process (two
`airflow` CLI calls cost ~7 s a DAG on 2 cores).
"""

from __future__ import annotations

import sys


def main() -> int:
    dag_id, *expected = sys.argv[1:]
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.run_after.desc()).limit(1)
        ).first()
        if run is None:
            print(f"{dag_id}: no run recorded", file=sys.stderr)
            return 1
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        run_state, run_id = str(run.state), run.run_id
        tasks = sorted(
            ((ti.start_date, ti.task_id, str(ti.state), ti.duration) for ti in tis),
            key=lambda t: (t[0] is None, t[0] or 0, t[1]),
        )
    states = {task_id: state for _, task_id, state, _ in tasks}
    bad = {t: s for t, s in states.items() if s != "success"}
    missing = [t for t in expected if t not in states]
    if run_state != "success" or bad or missing or not states:
        print(f"{dag_id} run {run_id}: state={run_state} tasks={states} missing={missing}", file=sys.stderr)
        return 1
    timed = ", ".join(f"{task_id} {seconds or 0:.1f} s" for _, task_id, _, seconds in tasks)
    print(f"{dag_id}: {len(states)} tasks succeeded ({timed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
