#!/usr/bin/env bash
# start | stop | status of the demo's long-running processes: speed-layer worker and serving API.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/airflow_env.sh"
RUN="$LAMBDAREC_VAR/run"; LOGS="$LAMBDAREC_VAR/logs"
PORT=${PORT:-8000}

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
stop_one() {
  if alive "$1"; then kill "$(cat "$RUN/$1.pid")" 2>/dev/null || true
    for _ in $(seq 50); do alive "$1" || break; sleep 0.2; done
    alive "$1" && kill -9 "$(cat "$RUN/$1.pid")" 2>/dev/null || true
    echo "stopped $1"
  fi
  rm -f "$RUN/$1.pid"
}

case "${1:-status}" in
  start)
    # The console's Pipelines page reads the DAG runs from `make airflow`'s API server, when it runs.
    export LAMBDAREC_AIRFLOW_URL=${LAMBDAREC_AIRFLOW_URL:-http://127.0.0.1:${AIRFLOW_PORT:-8080}}
    alive worker || { nohup "$LAMBDAREC_VENVS/pipeline/bin/python" -m jobs.stream_worker >"$LOGS/worker.log" 2>&1 & echo $! > "$RUN/worker.pid"; }
    alive serving || { PORT=$PORT nohup bash "$ROOT/scripts/serve.sh" >"$LOGS/serving.log" 2>&1 & echo $! > "$RUN/serving.pid"; }
    for _ in $(seq 120); do
      curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && { echo "serving API up on :$PORT (log: $LOGS/serving.log)"; exit 0; }
      alive serving || { echo "serving API died — $LOGS/serving.log:" >&2; tail -30 "$LOGS/serving.log" >&2; exit 1; }
      sleep 0.5
    done
    echo "serving API did not answer on :$PORT within 60 s — $LOGS/serving.log" >&2; exit 1;;
  stop) stop_one serving; stop_one worker;;
  status) for s in worker serving; do alive $s && echo "$s: running (pid $(cat "$RUN/$s.pid"))" || echo "$s: stopped"; done;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2;;
esac
