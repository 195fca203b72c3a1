#!/usr/bin/env bash
# Runs once, on the first start of an empty PostgreSQL volume (docker-entrypoint-initdb.d):
# one database and one owner role per consumer, so Airflow's metadata and Feast's registry
# can be backed up, migrated and access-controlled separately.
# Passwords come from the container's environment (docker/compose.yaml -> docker/.env).
set -euo pipefail
: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is required}"
: "${FEAST_DB_PASSWORD:?FEAST_DB_PASSWORD is required}"

# psql variables (:'name') quote the values, so a password with quotes cannot break the SQL.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v airflow_password="$AIRFLOW_DB_PASSWORD" -v feast_password="$FEAST_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE feast LOGIN PASSWORD :'feast_password';
CREATE DATABASE feast OWNER feast;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE ALL ON DATABASE feast FROM PUBLIC;
SQL
