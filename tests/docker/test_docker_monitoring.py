"""Prometheus + Grafana config against what the serving app really exports on /metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker_test_helpers import (
    DASHBOARD_DIR,
    DOCKER_DIR,
    PROMETHEUS_FILE,
    dashboard_exprs,
    exported_series,
    promql_refs,
)
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.metrics import Metrics
from serving.settings import ServingSettings

# Labels Prometheus adds to every scraped series (target labels), not the app.
TARGET_LABELS = {"instance", "job"}
DATASOURCE_UID = "lambdarec-prometheus"
# Queried by the dashboard (CTR per variant) but not exported by serving/metrics.py yet: serving
# must count clicks per A/B variant (lambdarec_clicks_total{variant}) for a live CTR. Kept out of
# the main check and asserted by a strict xfail below, which fails once serving exports it
# (then delete the entry).
AWAITING_SERVING: set[str] = set()  # metrics the dashboard may query before serving exports them


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict]:
    found = {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARD_DIR.glob("*.json"))}
    assert found, f"no dashboard in {DASHBOARD_DIR}"
    return found


@pytest.fixture
def serving_client(tmp_path: Path, redis_server: Any) -> Iterator[TestClient]:
    """The real serving app (no bundle published yet: it starts degraded, as a fresh stack does)."""
    settings = ServingSettings(
        LAMBDAREC_DATA_DIR=str(tmp_path / "data"),
        REDIS_URL=redis_server.url,
        LAMBDAREC_EXPERIMENTS_FILE=str(tmp_path / "no-experiments.yaml"),
        LAMBDAREC_BUNDLE_POLL_S=0,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def scraped(serving_client: TestClient) -> dict[str, str]:
    """Series names the app exposes on the path Prometheus scrapes, as Prometheus would read them."""
    path = prometheus_config()["scrape_configs"][0]["metrics_path"]
    resp = serving_client.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return exported_series(resp.text)


def label_names() -> dict[str, set[str]]:
    """Family name -> label names, from the serving metrics' own definitions."""
    out: dict[str, set[str]] = {}
    for metric in vars(Metrics()).values():
        name = getattr(metric, "_name", None)
        if name is None:
            continue
        kind = getattr(metric, "_type", "")
        labels = set(getattr(metric, "_labelnames", ()))
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(kind, [""])
        for s in suffixes:
            out[name + s] = labels | ({"le"} if s == "_bucket" else set())
    return out


def prometheus_config() -> dict:
    return yaml.safe_load(PROMETHEUS_FILE.read_text())


def test_every_dashboard_metric_is_exported_by_the_serving_app(dashboards: dict, scraped: dict) -> None:
    lambdarec = {n for n in scraped if n.startswith("lambdarec_")}
    assert len(lambdarec) >= 10, "the scrape should list every serving metric family"
    used: set[str] = set()
    for file, dash in dashboards.items():
        exprs = dashboard_exprs(dash)
        assert exprs, f"{file} has no queries"
        for title, expr in exprs:
            refs = promql_refs(expr)
            assert refs.metrics, f"{file} / {title}: no metric found in {expr!r}"
            missing = refs.metrics - set(scraped) - AWAITING_SERVING
            assert not missing, f"{file} / {title}: {sorted(missing)} not exported by serving"
            used |= refs.metrics
    assert len(used) >= 10


def test_every_dashboard_label_belongs_to_its_metrics(dashboards: dict) -> None:
    labels = label_names()
    assert labels["lambdarec_stage_duration_seconds_bucket"] >= {"stage", "le"}
    for file, dash in dashboards.items():
        for title, expr in dashboard_exprs(dash):
            refs = promql_refs(expr)
            known = TARGET_LABELS.union(*(labels.get(m, set()) for m in refs.metrics))
            unknown = refs.labels - known
            assert not unknown, (
                f"{file} / {title}: labels {sorted(unknown)} are not on {sorted(refs.metrics)}"
            )


def test_dashboard_endpoint_filters_name_real_routes(dashboards: dict, serving_client: TestClient) -> None:
    routes = {getattr(r, "path", None) for r in serving_client.app.routes}
    used = set()
    for dash in dashboards.values():
        for _title, expr in dashboard_exprs(dash):
            if "endpoint=" in expr:
                value = expr.split('endpoint="', 1)[1].split('"', 1)[0]
                used.add(value)
                assert value in routes, f"endpoint {value!r} is not a route of the serving app"
    assert "/v1/recommendations/{user_id}" in used


def test_dashboard_shows_what_operators_need(dashboards: dict) -> None:
    """Latency per stage p50/p95, cache hit ratio, degraded share, CTR per variant, coverage,
    events accepted/rejected, bundle version."""
    exprs = [e for d in dashboards.values() for _t, e in dashboard_exprs(d)]

    def has(*needles: str) -> bool:
        return any(all(n in e for n in needles) for e in exprs)

    assert has("histogram_quantile(0.5", "lambdarec_stage_duration_seconds_bucket", "stage")
    assert has("histogram_quantile(0.95", "lambdarec_stage_duration_seconds_bucket", "stage")
    assert has('lambdarec_cache_requests_total{result="hit"}', "/", "lambdarec_cache_requests_total[")
    assert has("lambdarec_degraded_responses_total", "/", "lambdarec_recommendations_total")
    assert has("by (variant)", "lambdarec_clicks_total", "/", "lambdarec_impressions_total")
    assert has("lambdarec_catalogue_coverage_ratio")
    assert has("by (result)", "lambdarec_events_total")
    assert has("lambdarec_bundle_info", "version")


def test_dashboard_structure_and_datasource(dashboards: dict) -> None:
    ds_file = DOCKER_DIR / "grafana/provisioning/datasources/prometheus.yaml"
    (ds,) = yaml.safe_load(ds_file.read_text())["datasources"]
    assert ds["uid"] == DATASOURCE_UID and ds["type"] == "prometheus"
    assert ds["url"] == "http://prometheus:9090"
    for file, dash in dashboards.items():
        assert dash["uid"] and dash["title"]
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), f"{file}: duplicate panel ids"
        for p in dash["panels"]:
            g = p["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24, f"{file} / {p['title']}: outside the 24-column grid"
            if p["type"] == "row":
                continue
            assert p["datasource"]["uid"] == DATASOURCE_UID, f"{file} / {p['title']}"
            for t in p["targets"]:
                assert t["datasource"]["uid"] == DATASOURCE_UID


def test_grafana_and_prometheus_wiring_matches_compose(compose_model: dict) -> None:
    svc = compose_model["services"]
    # Grafana reads dashboards where the provider points, and they are mounted there.
    prov = yaml.safe_load((DOCKER_DIR / "grafana/provisioning/dashboards/lambdarec.yaml").read_text())
    (provider,) = prov["providers"]
    mounts = {v["target"]: Path(v["source"]) for v in svc["grafana"]["volumes"] if v["type"] == "bind"}
    assert mounts[provider["options"]["path"]] == DASHBOARD_DIR
    assert mounts["/etc/grafana/provisioning"] == DOCKER_DIR / "grafana/provisioning"
    home = svc["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DASHBOARD_DIR / Path(home).name).is_file()
    # Prometheus listens where Grafana's datasource points.
    assert "prometheus" in svc and any(p["target"] == 9090 for p in svc["prometheus"]["ports"])
    prom_mounts = {
        v["target"]: Path(v["source"]) for v in svc["prometheus"]["volumes"] if v["type"] == "bind"
    }
    assert prom_mounts["/etc/prometheus/prometheus.yml"] == PROMETHEUS_FILE


def test_prometheus_scrapes_every_serving_replica(compose_model: dict) -> None:
    cfg = prometheus_config()
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    job = jobs["lambdarec-serving"]
    (sd,) = job["dns_sd_configs"]
    serving = compose_model["services"]["serving"]
    # DNS discovery on the compose service name returns one address per replica.
    assert sd["names"] == ["serving"] and sd["type"] == "A"
    # /metrics has a port of its own (not the published API port 8000).
    assert (
        sd["port"] == int(serving["environment"]["LAMBDAREC_METRICS_PORT"]) != serving["ports"][0]["target"]
    )
    assert job["metrics_path"] == "/metrics"
    assert "serving" in compose_model["services"]


def test_alert_rules_use_series_the_worker_exports() -> None:
    """docker/prometheus/alerts.yml queries only metrics jobs/speed_layer/metrics.py defines."""
    import yaml

    from jobs.speed_layer import metrics as worker_metrics
    from jobs.speed_layer.metrics import WorkerMetrics

    prom = yaml.safe_load(PROMETHEUS_FILE.read_text())
    assert prom["rule_files"] == ["/etc/prometheus/alerts.yml"]
    rules = yaml.safe_load((PROMETHEUS_FILE.parent / "alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    exported = {
        m.name + ("_total" if m.type == "counter" else "") for m in WorkerMetrics().registry.collect()
    }
    assert worker_metrics.STREAM_LOST in exported
    for expr in exprs:
        used = {name for name in exported if name in expr}
        assert used, f"alert {expr!r} queries no metric the worker exports"
