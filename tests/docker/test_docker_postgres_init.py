"""docker/postgres/init-databases.sh and the postgres healthcheck, run against a real PostgreSQL.

The test starts its own throwaway cluster (initdb + pg_ctl on a free port, socket in a temp dir),
the way the postgres image's entrypoint runs /docker-entrypoint-initdb.d scripts.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from docker_test_helpers import DOCKER_DIR

from tests.conftest import free_port

INIT_SCRIPT = DOCKER_DIR / "postgres" / "init-databases.sh"
ADMIN_PASSWORD = "admin-pw-for-tests"


@dataclass
class Cluster:
    port: int
    socket_dir: str
    data_dir: str

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "PGHOST": self.socket_dir, "PGPORT": str(self.port), **extra}


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        pytest.fail(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs the suite as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    root = tempfile.mkdtemp(prefix="lambdarec-pg-")
    data, sock = os.path.join(root, "data"), os.path.join(root, "sock")
    os.mkdir(sock)
    pwfile = os.path.join(root, "pw")
    Path(pwfile).write_text(ADMIN_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        shutil.chown(pwfile, "postgres")
    c = Cluster(port=free_port(), socket_dir=sock, data_dir=data)
    subprocess.run(
        _as_postgres(
            [
                _pg_bin("initdb"),
                "-D",
                data,
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--pwfile",
                pwfile,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    opts = f"-p {c.port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [
                _pg_bin("pg_ctl"),
                "-D",
                data,
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "-l",
                os.path.join(root, "log"),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield c
    finally:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def _connect(c: Cluster, user: str, password: str, db: str) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1", port=c.port, user=user, password=password, dbname=db, connect_timeout=10
    )


def _healthcheck(c: Cluster, compose_model: dict) -> int:
    kind, command = compose_model["services"]["postgres"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    return subprocess.run(["sh", "-c", command], env=c.env(), capture_output=True, timeout=30).returncode


def _roles(c: Cluster) -> set[str]:
    with _connect(c, "postgres", ADMIN_PASSWORD, "postgres") as conn:
        return {r[0] for r in conn.execute("select rolname from pg_roles")}


@pytest.mark.slow
def test_init_script_creates_one_database_and_owner_per_consumer(
    cluster: Cluster, compose_model: dict
) -> None:
    """One cluster for the whole story (initdb costs seconds): refused, not ready, init, ready."""
    airflow_pw, feast_pw = "air'flow pw;--", "feast-pw-0123"  # a quote must not break the SQL
    script_env = cluster.env(POSTGRES_USER="postgres", AIRFLOW_DB_PASSWORD=airflow_pw)
    script_env.pop("FEAST_DB_PASSWORD", None)
    refused = subprocess.run(
        ["bash", str(INIT_SCRIPT)], env=script_env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
    assert "FEAST_DB_PASSWORD is required" in refused.stderr
    assert not {"airflow", "feast"} & _roles(cluster)  # nothing half-created
    # PostgreSQL is up but the databases are missing: the compose healthcheck says not ready.
    assert _healthcheck(cluster, compose_model) == 1

    script_env["FEAST_DB_PASSWORD"] = feast_pw
    proc = subprocess.run(
        ["bash", str(INIT_SCRIPT)], env=script_env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert _healthcheck(cluster, compose_model) == 0

    with _connect(cluster, "airflow", airflow_pw, "airflow") as conn:
        row = conn.execute("select current_database(), current_user").fetchone()
        assert row == ("airflow", "airflow")
        # Owner of its database: Airflow's `db migrate` can create its tables.
        conn.execute("create table t (x int)")
    with _connect(cluster, "feast", feast_pw, "feast") as conn:
        assert conn.execute("select current_database()").fetchone() == ("feast",)
    # Separation: neither role reaches the other's database; passwords are checked.
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        _connect(cluster, "airflow", airflow_pw, "feast")
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        _connect(cluster, "feast", feast_pw, "airflow")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect(cluster, "feast", "wrong", "feast")
