#!/bin/sh
# Entrypoint guard of every lambdarec container that holds a secret:
#   check_secrets.sh VAR [VAR ...] -- command [args ...]
# Refuses to start (exit 78, EX_CONFIG) when a named variable is empty or a known placeholder,
# or when ANY variable of the environment still carries docker/.env.example's REPLACE_ME (this
# catches secrets embedded in URLs such as REDIS_URL). Otherwise execs the command.
set -eu
bad=""
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  name=$1
  shift
  eval "value=\${$name:-}"
  lower=$(printf '%s' "$value" | tr '[:upper:]' '[:lower:]')
  case "$lower" in
    "" | replace_me | replace-me | changeme | change-me | secret | password | xxx | todo) bad="$bad $name" ;;
  esac
done
[ "${1:-}" = "--" ] && shift
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p'); do
  eval "value=\${$name:-}"
  case "$value" in
    *REPLACE_ME* | *replace_me*)
      case " $bad " in *" $name "*) ;; *) bad="$bad $name" ;; esac ;;
  esac
done
if [ -n "$bad" ]; then
  echo "refusing to start: placeholder or empty secret in:$bad (set real values in docker/.env)" >&2
  exit 78
fi
exec "$@"
