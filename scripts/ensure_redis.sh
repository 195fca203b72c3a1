#!/usr/bin/env bash
# Makes sure a Redis server answers at REDIS_URL (default redis://127.0.0.1:6379/0):
# uses it if it answers; otherwise installs Debian's redis-server (when root) and starts one.
set -euo pipefail
URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
hostport=${URL#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
HOST=${hostport%%:*}; PORT=${hostport##*:}; [ "$PORT" = "$hostport" ] && PORT=6379

ping() { (exec 3<>"/dev/tcp/$HOST/$PORT" && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }

if ping; then echo "[redis] using the server at $HOST:$PORT"; exit 0; fi
case "$HOST" in 127.0.0.1|localhost) ;; *)
  echo "[redis] ERROR: nothing answers at $HOST:$PORT and it is not local; start it or fix REDIS_URL" >&2; exit 1;;
esac
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "[redis] ERROR: redis-server is not installed and installing it needs root: apt-get install redis-server" >&2; exit 1
  fi
  echo "[redis] installing Debian's redis-server"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
mkdir -p "${LAMBDAREC_VAR:-var}/redis"
echo "[redis] starting redis-server on $HOST:$PORT (data in ${LAMBDAREC_VAR:-var}/redis)"
redis-server --daemonize yes --bind "$HOST" --port "$PORT" --dir "$(cd "${LAMBDAREC_VAR:-var}/redis" && pwd)" \
  --appendonly yes --save "" --logfile "$(cd "${LAMBDAREC_VAR:-var}/redis" && pwd)/redis.log"
for _ in $(seq 50); do ping && { echo "[redis] up"; exit 0; }; sleep 0.1; done
echo "[redis] ERROR: redis-server did not answer on $HOST:$PORT; see ${LAMBDAREC_VAR:-var}/redis/redis.log" >&2; exit 1
