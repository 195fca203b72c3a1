# Sourced by the scripts that run Airflow: an embedded Airflow home under var/airflow
# (SQLite metadata, LocalExecutor), the repo's DAGs, no examples.
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export LAMBDAREC_VENVS=${LAMBDAREC_VENVS:-$ROOT/.venvs}
# Everything a run makes lives under LAMBDAREC_VAR (default var/): data, Airflow home, logs, pids.
export LAMBDAREC_VAR=${LAMBDAREC_VAR:-$ROOT/var}
export LAMBDAREC_DATA_DIR=${LAMBDAREC_DATA_DIR:-$LAMBDAREC_VAR/data}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$LAMBDAREC_VAR/airflow}
export AIRFLOW__CORE__DAGS_FOLDER=${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/dags}
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}
export AIRFLOW__API__PORT=${AIRFLOW_PORT:-8080}
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:${AIRFLOW_PORT:-8080}/execution/}
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-True}
export AIRFLOW__LOGGING__LOGGING_LEVEL=${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}
# The demo's UI: every user is admin (simple auth manager). Production uses a real auth manager.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS:-True}
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$LAMBDAREC_VENVS/pipeline/bin/python}
export PATH="$LAMBDAREC_VENVS/pipeline/bin:$PATH"
mkdir -p "$AIRFLOW_HOME" "$LAMBDAREC_VAR/logs" "$LAMBDAREC_VAR/run"
