#!/usr/bin/env bash
# The end-to-end demo: sample data → the three DAGs through Airflow → trained models →
# speed-layer worker + serving API running in the background → a few events → recommendations.
# Re-runnable without cleaning: services of an earlier run are stopped first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/airflow_env.sh"
RUN="$LAMBDAREC_VAR/run"; LOGS="$LAMBDAREC_VAR/logs"
PORT=${PORT:-8000}

bash "$ROOT/scripts/services.sh" stop >/dev/null 2>&1 || true
bash "$ROOT/scripts/pipeline.sh"

# Demo API keys (write; admin is separate); a real deployment sets LAMBDAREC_API_KEY and
# LAMBDAREC_ADMIN_KEY itself.
if [ -z "${LAMBDAREC_API_KEY:-}" ]; then
  [ -s "$RUN/demo_api_key" ] || "$LAMBDAREC_VENVS/pipeline/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))' > "$RUN/demo_api_key"
  export LAMBDAREC_API_KEY=$(cat "$RUN/demo_api_key")
fi
if [ -z "${LAMBDAREC_ADMIN_KEY:-}" ]; then
  [ -s "$RUN/demo_admin_key" ] || "$LAMBDAREC_VENVS/pipeline/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))' > "$RUN/demo_admin_key"
  export LAMBDAREC_ADMIN_KEY=$(cat "$RUN/demo_admin_key")
fi
bash "$ROOT/scripts/services.sh" start

printf '\n\033[1m== the serving API at http://127.0.0.1:%s\033[0m\n' "$PORT"
"$LAMBDAREC_VENVS/pipeline/bin/python" "$ROOT/scripts/demo_client.py" --url "http://127.0.0.1:$PORT" --api-key="$LAMBDAREC_API_KEY"  # "=": a key may start with "-"

# The last closed hour: the DAG checks that the worker processed everything appended before its
# end, then compacts that hour's landed events (the current hour's are landed, not yet compacted).
printf '\n\033[1m== land_events_hourly for the last closed hour\033[0m\n'
export LAMBDAREC_DAG_RETRIES=0
HOUR=$(date -u -d '1 hour ago' +%Y-%m-%dT%H:00:00+00:00)
if airflow dags test land_events_hourly "$HOUR" >"$LOGS/land_events_hourly.log" 2>&1 \
  && "$LAMBDAREC_VENVS/pipeline/bin/python" "$ROOT/scripts/check_dag_run.py" land_events_hourly >>"$LOGS/land_events_hourly.log" 2>&1; then
  echo "ok: land_events_hourly (log: $LOGS/land_events_hourly.log)"
else
  echo "land_events_hourly failed — see $LOGS/land_events_hourly.log" >&2; exit 1
fi

cat <<MSG

Done. Still running in the background (stop them with: make stop):
  serving API      http://127.0.0.1:$PORT      docs: http://127.0.0.1:$PORT/docs   metrics: /metrics
  console          http://127.0.0.1:$PORT/console   (asks for the admin key below)
  speed-layer worker (logs: $LOGS/worker.log)
  API key for POST /v1/events:  $LAMBDAREC_API_KEY   (header X-API-Key)
  admin key for /v1/admin/*:    $LAMBDAREC_ADMIN_KEY   (header X-API-Key)
Airflow UI with the DAGs and these runs: make airflow  → http://127.0.0.1:${AIRFLOW_PORT:-8080}
MSG
