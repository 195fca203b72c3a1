"""docker/compose.yaml, checked by the real Docker Compose CLI plus the stack's own rules."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from docker_test_helpers import COMPOSE_FILE, DOCKER_DIR, ENV_EXAMPLE, REPO_ROOT

EXPECTED_SERVICES = {
    "redis",
    "postgres",
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "serving",
    "stream-worker",
    "prometheus",
    "grafana",
    "spark-master",
    "spark-worker",
}
REQUIRED_SECRETS = {
    "REDIS_PASSWORD",
    "POSTGRES_PASSWORD",
    "AIRFLOW_DB_PASSWORD",
    "FEAST_DB_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "LAMBDAREC_API_KEY",
    "LAMBDAREC_ADMIN_KEY",
    "GRAFANA_ADMIN_PASSWORD",
}
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|API_KEY|REDISCLI_AUTH", re.I)
REQUIRED_REF = re.compile(r"^\$\{(?P<var>[A-Z0-9_]+):\?[^}]*\}$")
OPTIONAL_REF = re.compile(r"^\$\{(?P<var>[A-Z0-9_]+):-\}$")
URL_CREDENTIALS = re.compile(r"://(?P<user>[^:/@\s]*):(?P<password>[^@\s]+)@")


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def walk_strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in walk_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in walk_strings(v)]
    return []


# ------------------------------------------------------------------ the real validator
def test_compose_file_is_valid_for_docker_compose(compose_model: dict) -> None:
    assert set(compose_model["services"]) == EXPECTED_SERVICES
    assert compose_model["name"] == "lambdarec"


def test_validator_rejects_an_unknown_key(compose_run, tmp_path: Path) -> None:
    """Proves the validator really checks the schema (a typo would not slip through)."""
    broken = raw_compose()
    broken["services"]["serving"]["helthcheck"] = broken["services"]["serving"].pop("healthcheck")
    f = tmp_path / "compose.yaml"
    f.write_text(yaml.safe_dump(broken))
    proc = compose_run("-q", compose_file=f)
    assert proc.returncode != 0
    assert "helthcheck" in proc.stderr


@pytest.mark.parametrize("secret", sorted(REQUIRED_SECRETS))
def test_each_required_secret_stops_compose_when_missing(compose_run, tmp_path: Path, secret: str) -> None:
    values = env_example()
    del values[secret]
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    proc = compose_run("-q", env_file=env_file)
    assert proc.returncode != 0
    assert f"required variable {secret} is missing" in proc.stderr


# ------------------------------------------------------------------ secrets
def test_secret_values_are_only_environment_references() -> None:
    """Every secret-looking value in the file is ``${VAR:?}`` (or optional ``${VAR:-}``)."""
    raw = raw_compose()
    blocks = [("x-airflow", raw["x-airflow"]["environment"])]
    blocks += [(n, s.get("environment", {})) for n, s in raw["services"].items()]
    checked = 0
    for owner, env in blocks:
        for key, value in env.items():
            if not SECRETISH.search(key):
                continue
            checked += 1
            value = str(value)
            if OPTIONAL_REF.match(value):
                assert key == "OPENAI_API_KEY", f"{owner}.{key}: only the OpenAI key is optional"
                continue
            m = REQUIRED_REF.match(value)
            assert m, f"{owner}.{key} = {value!r} is not a ${{VAR:?}} reference"
            assert m.group("var") in REQUIRED_SECRETS
    assert checked >= 10
    for s in walk_strings(raw):
        for m in URL_CREDENTIALS.finditer(s):
            assert REQUIRED_REF.match(m.group("password")), f"literal password in URL {s!r}"


def test_env_example_defines_every_variable_with_placeholders_only() -> None:
    values = env_example()
    # Values only (comments are not read); "$${X}" is an escaped dollar, resolved in the container.
    referenced = {v for s in walk_strings(raw_compose()) for v in re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", s)}
    assert "REDIS_PASSWORD" in referenced
    assert referenced <= set(values), f"missing in .env.example: {sorted(referenced - set(values))}"
    for key in REQUIRED_SECRETS:
        assert values[key] == "REPLACE_ME", f"{key} in .env.example must be a placeholder"
    assert values["OPENAI_API_KEY"] == ""


def test_real_env_file_is_git_ignored() -> None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.fail("the docker tests need the git work tree to check .gitignore")
    proc = subprocess.run(
        ["git", "check-ignore", "-q", "docker/.env"], cwd=REPO_ROOT, capture_output=True, timeout=30
    )
    assert proc.returncode == 0, "docker/.env (real secrets) must be git-ignored"
    proc = subprocess.run(
        ["git", "check-ignore", "-q", "docker/.env.example"], cwd=REPO_ROOT, capture_output=True, timeout=30
    )
    assert proc.returncode == 1, "docker/.env.example must be committed"


def test_serving_and_worker_get_no_airflow_or_database_admin_secrets(compose_model: dict) -> None:
    """Least privilege: each service sees only the secrets it uses."""
    svc = compose_model["services"]
    serving_env = svc["serving"]["environment"]
    secrets = {k for k in serving_env if SECRETISH.search(k) or k.endswith("_KEY") or k == "REDIS_URL"}
    assert secrets == {"LAMBDAREC_API_KEY", "LAMBDAREC_ADMIN_KEY", "LAMBDAREC_READ_KEY", "REDIS_URL"}
    worker_keys = set(svc["stream-worker"]["environment"])
    assert not {k for k in worker_keys if k.startswith("AIRFLOW") or k == "POSTGRES_PASSWORD"}
    assert "POSTGRES_PASSWORD" not in svc["airflow-scheduler"]["environment"]


# ------------------------------------------------------------------ structure
def test_every_service_is_health_checked_or_waits_on_a_condition(compose_model: dict) -> None:
    for name, svc in compose_model["services"].items():
        hc = svc.get("healthcheck") or {}
        has_check = bool(hc.get("test")) and not hc.get("disable")
        conditions = {d.get("condition") for d in (svc.get("depends_on") or {}).values()}
        assert has_check or conditions - {None}, f"{name}: no healthcheck and no depends_on condition"
    # One-shot: the migration job must not restart, and everything Airflow waits for it.
    assert compose_model["services"]["airflow-init"]["restart"] == "no"
    assert compose_model["services"]["airflow-init"]["command"] == ["db", "migrate"]
    for name in ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        deps = compose_model["services"][name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name


def test_long_running_services_have_their_own_healthcheck(compose_model: dict) -> None:
    for name, svc in compose_model["services"].items():
        if name == "airflow-init":
            continue
        hc = svc.get("healthcheck") or {}
        assert hc.get("test") and not hc.get("disable"), f"{name} has no healthcheck"


def test_images_are_pinned(compose_model: dict) -> None:
    for name, svc in compose_model["services"].items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: image {image!r} is not pinned"
        if "build" in svc:
            assert repo.startswith("lambdarec-"), f"{name}: built image should be named lambdarec-*"
        else:
            assert re.match(r"^v?\d+\.\d+(\.\d+)?", tag), f"{name}: {image!r} needs a version tag"


def test_airflow_uses_local_executor_on_postgres(compose_model: dict) -> None:
    for name in EXPECTED_SERVICES:
        if not name.startswith("airflow"):
            continue
        env = compose_model["services"][name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://airflow:")
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
        assert env["FEAST_REGISTRY_URL"].endswith("@postgres:5432/feast")
    cmds = {
        n: compose_model["services"][n]["command"][0] for n in EXPECTED_SERVICES if n.startswith("airflow-")
    }
    assert cmds == {
        "airflow-init": "db",
        "airflow-api-server": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }


def _mounts(svc: dict) -> dict[str, tuple[str, bool]]:
    return {v["target"]: (v["source"], bool(v.get("read_only"))) for v in svc.get("volumes", [])}


def test_data_and_models_volumes_airflow_writes_serving_reads(compose_model: dict) -> None:
    svc = compose_model["services"]
    declared = set(compose_model["volumes"])
    for name, s in svc.items():
        for v in s.get("volumes", []):
            if v["type"] == "volume":
                assert v["source"] in declared, f"{name}: volume {v['source']} not declared"
    assert _mounts(svc["serving"]) == {"/data/models": ("lambdarec-models", True)}
    assert svc["serving"]["environment"]["LAMBDAREC_DATA_DIR"] == "/data"
    for name in ("airflow-scheduler", "airflow-api-server", "airflow-dag-processor"):
        m = _mounts(svc[name])
        # Same paths as serving, so the models/current symlink resolves in both containers.
        assert m["/data/models"] == ("lambdarec-models", False), name
        assert m["/data"] == ("lambdarec-data", False), name
        assert svc[name]["environment"]["LAMBDAREC_DATA_DIR"] == "/data"
    assert _mounts(svc["stream-worker"])["/data"] == ("lambdarec-data", False)


def test_bind_mounted_config_files_exist(compose_model: dict) -> None:
    for name, s in compose_model["services"].items():
        for v in s.get("volumes", []):
            if v["type"] == "bind":
                src = Path(v["source"])
                assert src.exists(), f"{name}: {src} does not exist"
                assert DOCKER_DIR in src.parents, f"{name}: bind mount outside docker/: {src}"
                assert v.get("read_only"), f"{name}: config mount {src} should be read-only"


def test_serving_scales_as_stateless_replicas(compose_model: dict) -> None:
    serving = compose_model["services"]["serving"]
    assert serving["deploy"]["replicas"] == 2
    assert "container_name" not in serving  # a fixed name would forbid replicas
    (port,) = serving["ports"]
    assert port["target"] == 8000
    lo, hi = (int(p) for p in port["published"].split("-"))
    assert hi - lo + 1 == serving["deploy"]["replicas"], "one host port per replica"


def test_redis_has_query_engine_and_requires_its_password(compose_model: dict) -> None:
    redis = compose_model["services"]["redis"]
    repo, _, tag = redis["image"].rpartition(":")
    assert repo == "redis" and int(tag.split(".")[0]) >= 8, "Redis 8 bundles the query engine"
    # The password is not on any command line: redis-server reads it from stdin.
    argv = [*redis["entrypoint"], *redis["command"]]
    assert not any("REPLACE_ME" in a for a in argv) and "--requirepass" not in " ".join(argv)
    assert "$REDISCLI_AUTH" in redis["command"][0] and "redis-server -" in redis["command"][0]
    assert redis["environment"]["REDISCLI_AUTH"] == "REPLACE_ME"
    for name in ("serving", "stream-worker", "airflow-scheduler"):
        assert (
            compose_model["services"][name]["environment"]["REDIS_URL"] == "redis://:REPLACE_ME@redis:6379/0"
        )


def test_redis_never_evicts_the_stream(compose_model: dict) -> None:
    script = compose_model["services"]["redis"]["command"][0]
    assert "--maxmemory-policy noeviction" in script and "--maxmemory " in script
    assert compose_model["services"]["redis"]["environment"]["REDIS_MAXMEMORY"]


def test_metrics_are_not_on_the_published_api_port(compose_model: dict) -> None:
    serving = compose_model["services"]["serving"]
    assert serving["environment"]["LAMBDAREC_METRICS_ON_API_PORT"] == "false"
    metrics_port = int(serving["environment"]["LAMBDAREC_METRICS_PORT"])
    assert [p["target"] for p in serving["ports"]] == [8000] and metrics_port != 8000
    prom = yaml.safe_load((DOCKER_DIR / "prometheus" / "prometheus.yml").read_text())
    ports = {
        c["job_name"]: c["dns_sd_configs"][0]["port"] for c in prom["scrape_configs"] if "dns_sd_configs" in c
    }
    assert ports == {"lambdarec-serving": metrics_port, "lambdarec-stream-worker": 9101}
    assert "--metrics-port" in compose_model["services"]["stream-worker"]["command"]


def test_forwarded_headers_are_trusted_only_from_the_proxy(compose_model: dict) -> None:
    serving = compose_model["services"]["serving"]
    assert serving["environment"]["FORWARDED_ALLOW_IPS"] == "127.0.0.1"  # .env.example: no proxy yet
    argv = " ".join(serving["command"])
    assert "--proxy-headers" in argv and "--forwarded-allow-ips" not in argv  # uvicorn reads the env
    assert "forwarded-allow-ips" not in (DOCKER_DIR / "serving.Dockerfile").read_text()


SECRET_HOLDERS = {
    "redis",
    "postgres",
    "grafana",
    "serving",
    "stream-worker",
    *(n for n in EXPECTED_SERVICES if n.startswith("airflow")),
}


@pytest.mark.parametrize("name", sorted(SECRET_HOLDERS))
def test_every_service_refuses_placeholder_secrets_before_it_starts(compose_model: dict, name: str) -> None:
    """Run the service's own entrypoint guard with its rendered environment (.env.example)."""
    svc = compose_model["services"][name]
    entry = svc["entrypoint"]
    assert entry[:2] == ["/bin/sh", entry[1]] and entry[1].endswith("/check_secrets.sh")
    named = entry[2 : entry.index("--")]
    script = str(DOCKER_DIR / "check_secrets.sh")
    env = {k: str(v) for k, v in svc["environment"].items()}
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    refused = subprocess.run(["/bin/sh", script, *named, "--", "true"], env={**base, **env},
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    assert refused.returncode == 78 and "refusing to start" in refused.stderr, name
    real = {k: v.replace("REPLACE_ME", "a-real-secret-value-123") for k, v in env.items()}
    started = subprocess.run(["/bin/sh", script, *named, "--", "true"], env={**base, **real},
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    assert started.returncode == 0, (name, started.stderr)


def test_spark_cluster_runs_the_airflow_image_and_airflow_points_at_it(compose_model: dict) -> None:
    """The same DAGs run on local[*] or on the stack's standalone Spark cluster: the executors are
    the Airflow image (same pipeline env and code as the driver), share the data volume, and the
    Airflow tasks' SPARK_MASTER is the master's URL."""
    svc = compose_model["services"]
    master, worker = svc["spark-master"], svc["spark-worker"]
    airflow_image = svc["airflow-scheduler"]["image"]
    assert master["image"] == worker["image"] == airflow_image
    assert master["command"][0] == "org.apache.spark.deploy.master.Master"
    assert (
        "--port" in master["command"] and master["command"][master["command"].index("--port") + 1] == "7077"
    )
    assert worker["command"][:2] == ["org.apache.spark.deploy.worker.Worker", "spark://spark-master:7077"]
    assert worker["depends_on"]["spark-master"]["condition"] == "service_healthy"
    assert worker["environment"]["PYSPARK_PYTHON"] == "/opt/venvs/pipeline/bin/python"
    data_mounts = {v["target"] for v in worker["volumes"] if v.get("source") == "lambdarec-data"}
    assert data_mounts == {worker["environment"]["LAMBDAREC_DATA_DIR"]}
    for name in ("airflow-scheduler", "airflow-api-server"):
        env = svc[name]["environment"]
        assert env["SPARK_MASTER"] == "spark://spark-master:7077", name
        assert env["LAMBDAREC_DATA_DIR"] == worker["environment"]["LAMBDAREC_DATA_DIR"], name
        assert json.loads(env["LAMBDAREC_SPARK_CONF"])["spark.driver.host"] == "airflow-scheduler", name
    assert svc["airflow-scheduler"]["depends_on"]["spark-master"]["condition"] == "service_healthy"
    # No secrets reach the Spark containers.
    for s in (master, worker):
        assert not {k for k in (s.get("environment") or {}) if SECRETISH.search(k) or k == "REDIS_URL"}
