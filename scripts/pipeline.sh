#!/usr/bin/env bash
# Runs the batch DAGs once through Airflow (`airflow dags test`, recorded in Airflow's database
# so the runs show in `make airflow`): build_features_daily, then train_models, for the data
# interval that ends with the raw data's last day (or LAMBDAREC_DS).
# Raw data: LAMBDAREC_RAW_DIR (a MovieLens directory) or the generated sample data.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/airflow_env.sh"
PY="$LAMBDAREC_VENVS/pipeline/bin/python"
LOGS="$LAMBDAREC_VAR/logs"
# One-shot runs fail fast; the scheduler's runs keep the DAGs' retries with backoff.
export LAMBDAREC_DAG_RETRIES=${LAMBDAREC_DAG_RETRIES:-0}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -z "${LAMBDAREC_RAW_DIR:-}" ]; then
  export LAMBDAREC_RAW_DIR="$LAMBDAREC_DATA_DIR/sample"
  if [ ! -f "$LAMBDAREC_RAW_DIR/ratings.csv" ]; then
    step "generating sample data (${LAMBDAREC_SAMPLE_PRESET:-small}) in $LAMBDAREC_RAW_DIR"
    "$PY" -m jobs.sample_data --out "$LAMBDAREC_RAW_DIR" --preset "${LAMBDAREC_SAMPLE_PRESET:-small}"
  fi
fi
[ -d "$LAMBDAREC_RAW_DIR" ] || { echo "LAMBDAREC_RAW_DIR=$LAMBDAREC_RAW_DIR is not a directory" >&2; exit 2; }

airflow db migrate >"$LOGS/airflow-db.log" 2>&1 || { tail -20 "$LOGS/airflow-db.log"; exit 1; }
DS=${LAMBDAREC_DS:-$("$PY" -m jobs.data_interval --raw-dir "$LAMBDAREC_RAW_DIR")}
echo "raw data: $LAMBDAREC_RAW_DIR   data interval (ds): $DS"

run_dag() {  # dag_id [extra args]
  local dag=$1; shift
  step "airflow dags test $dag $DS $*"
  local log="$LOGS/$dag.log" t0=$SECONDS
  if airflow dags test "$dag" "$DS" "$@" >"$log" 2>&1 && "$PY" "$ROOT/scripts/check_dag_run.py" "$dag" >>"$log" 2>&1; then
    echo "ok: $dag in $((SECONDS - t0)) s — $(tail -1 "$log") (log: $log)"
  else
    echo "FAILED: $dag after $((SECONDS - t0)) s — the failing task's output (full log: $log):" >&2
    "$PY" "$ROOT/scripts/dag_failure.py" "$log" >&2
    exit 1
  fi
}

run_dag build_features_daily
run_dag train_models --conf "{\"ds\": \"$DS\"}"
step "published bundle"
ls -l "$LAMBDAREC_DATA_DIR/models/current" 2>/dev/null || echo "(none)"
# What the API serves, judged: serving's pipeline replayed over the evaluation users, next to
# most-popular, item-kNN and EASE on the same split (the training run's report).
"$PY" -m training.report "$LAMBDAREC_DATA_DIR/models/current" || true
