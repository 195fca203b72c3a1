#!/usr/bin/env bash
# The Airflow UI with lambdarec's DAGs and the runs `make demo` / `make pipeline` recorded.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/airflow_env.sh"
airflow db migrate >/dev/null
echo "Airflow UI: http://127.0.0.1:${AIRFLOW_PORT:-8080}  (demo auth: every user is admin; Ctrl-C stops it)"
exec airflow standalone
