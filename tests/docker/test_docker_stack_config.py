"""The stack's environment, read by the real consumers: Airflow's config, SQLAlchemy, Feast, settings."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

AIRFLOW_SERVICES = ("airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor")


@pytest.mark.airflow
def test_every_airflow_variable_is_a_known_airflow_option(compose_model: dict) -> None:
    """AIRFLOW__SECTION__KEY typos are silently ignored by Airflow; catch them here."""
    from airflow.configuration import retrieve_configuration_description

    description = retrieve_configuration_description()
    checked = 0
    for name in AIRFLOW_SERVICES:
        for var in compose_model["services"][name]["environment"]:
            if not var.startswith("AIRFLOW__"):
                continue
            section, option = var.removeprefix("AIRFLOW__").lower().split("__", 1)
            options = description.get(section, {}).get("options", {})
            assert option in options, f"{name}: {var} is not an Airflow option ([{section}] {option})"
            checked += 1
    assert checked >= 4 * 10
    # The scheduler healthcheck polls the port Airflow's health server listens on by default.
    port = description["scheduler"]["options"]["scheduler_health_check_server_port"]["default"]
    test = compose_model["services"]["airflow-scheduler"]["healthcheck"]["test"]
    assert f"http://127.0.0.1:{port}/health" in test


def test_api_server_health_route_exists() -> None:
    """The api-server healthcheck URL is a route of the installed Airflow (read from its source:
    importing the whole API app costs ~10 s)."""
    import importlib.util
    import re
    from pathlib import Path

    spec = importlib.util.find_spec("airflow.api_fastapi.core_api.routes.public")
    assert spec is not None and spec.submodule_search_locations
    pkg = Path(next(iter(spec.submodule_search_locations)))
    public = (pkg / "__init__.py").read_text()
    monitor = (pkg / "monitor.py").read_text()
    assert re.search(r'public_router = AirflowRouter\(prefix="/api/v2"\)', public)
    assert re.search(r'monitor_router = AirflowRouter\([^)]*prefix="/monitor"\)', monitor)
    assert re.search(r'@monitor_router\.get\(\s*"/health"', monitor)


def test_database_urls_load_their_sqlalchemy_driver(compose_model: dict) -> None:
    from sqlalchemy.engine import make_url

    env = compose_model["services"]["airflow-scheduler"]["environment"]
    for key, db, user in (
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "airflow", "airflow"),
        ("FEAST_REGISTRY_URL", "feast", "feast"),
    ):
        url = make_url(env[key])
        assert (url.get_backend_name(), url.get_driver_name()) == ("postgresql", "psycopg")
        assert (url.host, url.port, url.database, url.username) == ("postgres", 5432, db, user)
        dialect = url.get_dialect()
        assert dialect.driver == "psycopg"
        dialect.import_dbapi()  # psycopg 3 is in the pipeline lock (the Airflow image's env)


def test_feast_config_renders_from_the_compose_environment(compose_model: dict, monkeypatch) -> None:
    """feature_store.yaml's ${VARS} resolve to the stack's PostgreSQL registry and Redis."""
    from feature_repo.feast_settings import FeastSettings, render_config

    env = compose_model["services"]["stream-worker"]["environment"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FEAST_REDIS_CONNECTION", raising=False)
    config = render_config(FeastSettings())
    assert config["registry"]["path"] == "postgresql+psycopg://feast:REPLACE_ME@postgres:5432/feast"
    assert config["online_store"]["connection_string"] == "redis:6379,db=0,password=REPLACE_ME"


def test_services_parse_their_settings_from_the_compose_environment(compose_model: dict, monkeypatch) -> None:
    from lambdarec_contracts.settings import BaseLambdarecSettings
    from serving.settings import ServingSettings

    svc = compose_model["services"]
    for key, value in svc["serving"]["environment"].items():
        monkeypatch.setenv(key, value)
    # The committed placeholder must not start a real service ...
    assert svc["serving"]["environment"]["LAMBDAREC_API_KEY"] == "REPLACE_ME"
    with pytest.raises(ValueError, match="placeholder"):
        ServingSettings()
    # ... a real key does.
    monkeypatch.setenv("LAMBDAREC_API_KEY", "k3y-0123456789-abcdef")
    with pytest.raises(ValueError, match="placeholder"):  # the admin key is checked too
        ServingSettings()
    monkeypatch.setenv("LAMBDAREC_ADMIN_KEY", "adm1n-0123456789-abcdef")
    settings = ServingSettings()
    assert settings.read_key is None  # LAMBDAREC_READ_KEY= (empty): reads stay open
    assert str(settings.bundle_link) == "/data/models/current"
    assert urlparse(settings.redis_url).hostname == "redis"
    for key, value in svc["airflow-scheduler"]["environment"].items():
        monkeypatch.setenv(key, value)
    base = BaseLambdarecSettings()
    # Airflow writes bundles where serving reads them (same volume, same path).
    assert base.current_bundle_link == settings.bundle_link
    # Retrieval from Redis's query engine by default, and the publish step (Airflow) indexes for it.
    from training.settings import TrainingSettings

    assert settings.vector_backend == "redis"
    monkeypatch.delenv("LAMBDAREC_VECTOR_BACKEND")
    assert TrainingSettings().vector_backend == "memory"
    monkeypatch.setenv(
        "LAMBDAREC_VECTOR_BACKEND", svc["airflow-scheduler"]["environment"]["LAMBDAREC_VECTOR_BACKEND"]
    )
    assert TrainingSettings().vector_backend == "redis"
    assert str(base.events_dir) == "/data/events/landed"
