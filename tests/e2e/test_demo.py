"""The README's first command, for real, on the tiny sample: `scripts/demo.sh` runs the three
DAGs through Airflow, publishes a bundle, starts the worker and the API, sends events and
prints recommendations. Then a corrupted raw file must stop the pipeline at dbt's tests and
leave the online store and the published bundle untouched.

Slow by nature (Airflow + dbt + Spark + TensorFlow): one run shared by the assertions. The
console is checked on this run too, in a browser, with Airflow's API server over the demo's runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, RedisServer, free_port, venv_python

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.redis]
ADMIN_KEY = "e2e-admin-key-4b8e1d"


@dataclass
class DemoRun:
    env: dict[str, str]
    var: Path
    port: int
    proc: subprocess.CompletedProcess

    @property
    def data(self) -> Path:
        return self.var / "data"

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            return json.loads(r.read())

    @property
    def airflow_env(self) -> dict[str, str]:
        return {
            **self.env,
            "AIRFLOW_HOME": str(self.var / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.var / 'airflow' / 'airflow.db'}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }

    def airflow(self, *args: str) -> str:
        airflow = str(Path(venv_python("pipeline")).parent / "airflow")
        out = subprocess.run(
            [airflow, *args], env=self.airflow_env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout


def _env(var: Path, redis_url: str, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "LAMBDAREC_", "FEAST_", "OPENAI_"))
    }
    env.update(
        {
            "LAMBDAREC_VAR": str(var),
            "REDIS_URL": redis_url,
            "LAMBDAREC_SAMPLE_PRESET": "tiny",
            "PORT": str(port),
            "AIRFLOW_PORT": str(free_port()),
            "LAMBDAREC_API_KEY": "e2e-test-key-0f3a9c",
            "LAMBDAREC_ADMIN_KEY": ADMIN_KEY,
            "LAMBDAREC_TRAIN_EPOCHS": "2",
        }
    )
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    redis = RedisServer(port=free_port(), workdir=tmp_path_factory.mktemp("redis"))
    redis.start()
    var = tmp_path_factory.mktemp("var")
    port = free_port()
    env = _env(var, redis.url, port)
    try:
        proc = subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "demo.sh")],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=int(os.environ.get("LAMBDAREC_E2E_DEMO_TIMEOUT_S", "1800")),
        )
        yield DemoRun(env=env, var=var, port=port, proc=proc)
    finally:
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "services.sh"), "stop"], env=env, timeout=60)
        redis.stop()


def test_demo_succeeds_and_prints_recommendations(demo: DemoRun) -> None:
    out = demo.proc.stdout
    assert demo.proc.returncode == 0, (out[-5000:], demo.proc.stderr[-5000:])
    assert "GET /v1/recommendations/" in out
    assert "Because you liked" in out or "Trending" in out or "Popular" in out
    assert "HTTP 401" in out or "HTTP 403" in out  # the write endpoint refused a request without a key


def test_airflow_recorded_successful_runs_of_all_three_dags(demo: DemoRun) -> None:
    assert demo.proc.returncode == 0
    for dag_id in ("build_features_daily", "train_models", "land_events_hourly"):
        out = demo.airflow("dags", "list-runs", dag_id, "-o", "json")
        runs = json.loads(next(ln for ln in reversed(out.splitlines()) if ln.startswith("[")))
        assert [r["state"] for r in runs] == ["success"], (dag_id, runs)


def test_pipeline_reports_every_task_with_its_wall_time(demo: DemoRun) -> None:
    # scripts/check_dag_run.py reads Airflow's database: each task, in the order it ran, with its time.
    assert demo.proc.returncode == 0
    line = next(ln for ln in demo.proc.stdout.splitlines() if ln.startswith("ok: build_features_daily"))
    timed = re.findall(r"(\w+) (\d+\.\d) s", line.split("tasks succeeded", 1)[1])
    names = [name for name, _ in timed]
    assert set(names) == {
        "ingest_raw", "dbt_build", "spark_features", "text_embeddings",
        "feast_materialize", "publish_history", "announce_features",
    }, line  # fmt: skip
    assert names.index("ingest_raw") < names.index("dbt_build") < names.index("spark_features"), line
    assert float(dict(timed)["spark_features"]) > 1.0, line  # a Spark job, not a placeholder


def test_published_bundle_is_served(demo: DemoRun) -> None:
    assert demo.proc.returncode == 0
    current = (demo.data / "models" / "current").resolve()
    manifest = json.loads((current / "manifest.json").read_text())
    ready = demo.get("/readyz")
    assert ready.get("model_version", manifest["bundle_version"]) == manifest["bundle_version"]
    user = json.loads((current / "user_vocab.json").read_text())[1]  # a known user (0 is OOV)
    rec = demo.get(f"/v1/recommendations/{user}?k=10")
    assert rec["model_version"] == manifest["bundle_version"]
    assert rec["degraded"] is False
    assert len(rec["items"]) == 10
    assert all(it["reason"] for it in rec["items"])


def test_events_were_landed_for_the_batch_layer(demo: DemoRun) -> None:
    assert demo.proc.returncode == 0
    landed = list((demo.data / "events" / "landed").rglob("*.parquet"))
    assert landed, "the worker landed no event"


@pytest.mark.browser
def test_console_pages_on_the_demo(demo: DemoRun) -> None:
    # Before the corrupt-data test: that one re-runs build_features_daily for the same data
    # interval in the demo's Airflow database, which replaces the run the Pipelines page shows.
    assert demo.proc.returncode == 0
    from tests.e2e.console_checks import run

    current = (demo.data / "models" / "current").resolve()
    version = json.loads((current / "manifest.json").read_text())["bundle_version"]
    user = json.loads((current / "user_vocab.json").read_text())[2]  # a known user (0 is OOV)
    run(demo, user, version, ADMIN_KEY)


def test_corrupt_raw_data_stops_at_dbt_and_leaves_outputs_untouched(demo: DemoRun, tmp_path: Path) -> None:
    assert demo.proc.returncode == 0
    bad_raw = tmp_path / "raw"
    subprocess.run(
        [
            venv_python("pipeline"),
            "-m",
            "jobs.sample_data",
            "--out",
            str(bad_raw),
            "--preset",
            "tiny",
            "--corrupt",
            "bad-ratings",
        ],
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
    )
    marts = demo.data / "marts" / "fct_interactions.parquet"
    before = (marts.stat().st_mtime_ns, marts.read_bytes())
    bundle_before = (demo.data / "models" / "current").resolve()
    env = {**demo.env, "LAMBDAREC_RAW_DIR": str(bad_raw)}
    proc = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "pipeline.sh")],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode != 0
    assert "FAILED: build_features_daily" in proc.stderr
    assert "accepted_range" in proc.stderr or "rating" in proc.stderr  # names the failing dbt test
    assert (marts.stat().st_mtime_ns, marts.read_bytes()) == before
    assert (demo.data / "models" / "current").resolve() == bundle_before
    shutil.rmtree(bad_raw)
