#!/usr/bin/env bash
# Starts the serving API from the slim serving environment on PORT (default 8000).
#   PORT, HOST (default 0.0.0.0), WORKERS (default: the number of cores); config via LAMBDAREC_*
#   env vars (serving/README.md). Each worker is a process with its own bundle, item features and
#   poller; /metrics aggregates all workers (prometheus-client multiprocess mode, in
#   PROMETHEUS_MULTIPROC_DIR, emptied here before the workers start).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENVS=${LAMBDAREC_VENVS:-$ROOT/.venvs}
PORT=${PORT:-8000}
WORKERS=${WORKERS:-$(nproc 2>/dev/null || echo 1)}
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-${TMPDIR:-/tmp}/lambdarec-metrics-$PORT}
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
cd "$ROOT"
exec "$VENVS/serving/bin/python" -m uvicorn serving.app:create_app --factory \
  --host "${HOST:-0.0.0.0}" --port "$PORT" --workers "$WORKERS" \
  --no-access-log "$@"
