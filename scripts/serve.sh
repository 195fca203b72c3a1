#!/usr/bin/env bash
# Starts the serving API from the slim serving environment on PORT (default 8000).
#   PORT, HOST (default 0.0.0.0), WORKERS (default 1); config via LAMBDAREC_* env vars (serving/README.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENVS=${LAMBDAREC_VENVS:-$ROOT/.venvs}
cd "$ROOT"
exec "$VENVS/serving/bin/python" -m uvicorn serving.app:create_app --factory \
  --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" --workers "${WORKERS:-1}" \
  --no-access-log "$@"
