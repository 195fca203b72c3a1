"""The serving API runs in the slim serving env: no TF/Airflow/Spark/Feast, real uvicorn via serve.sh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port

# "dbt.cli", not "dbt": the repo's dbt/ project folder is importable as a namespace package.
HEAVY = ("tensorflow", "airflow", "pyspark", "feast", "dbt.cli", "torch")


def test_heavy_packages_are_absent_and_app_imports():
    probe = (
        "import sys, importlib.util as u, serving.app\n"
        "def present(m):\n"
        "    try:\n"
        "        return m in sys.modules or u.find_spec(m) is not None\n"
        "    except ModuleNotFoundError:\n"
        "        return False\n"
        f"print([m for m in {HEAVY!r} if present(m)])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert out.stdout.strip() == "[]"


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.redis
def test_serve_sh_answers(tmp_path: Path, redis_server):
    from testing_support.bundle_builder import build_bundle, publish

    models = tmp_path / "data" / "models"
    publish(models, build_bundle(models / "bundles"))
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "REDIS_URL": redis_server.url,
        "LAMBDAREC_DATA_DIR": str(tmp_path / "data"),
        "LAMBDAREC_VENVS": str(Path(sys.executable).parents[2]),
    }
    proc = subprocess.Popen(
        ["bash", str(REPO_ROOT / "scripts" / "serve.sh")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        status, ready = _get(f"{base}/readyz")
        assert status == 200 and ready["bundle_version"] == "20260101T000000Z"
        status, body = _get(f"{base}/v1/recommendations/u1?k=3")
        assert status == 200 and body["degraded"] is False and len(body["items"]) == 3
        assert _get(f"{base}/v1/recommendations/u1?k=0")[0] == 422
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _metric(text: str, name: str, labels: str = "") -> float:
    """Value of one sample (``name{labels}``) in Prometheus text; 0 when absent."""
    prefix = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.redis
def test_workers_share_metrics_and_each_swaps_the_bundle(tmp_path: Path, redis_server):
    """WORKERS=2: /metrics of any worker counts every worker's requests; a publish reaches both."""
    from testing_support.bundle_builder import BundleSpec, build_bundle, publish

    models = tmp_path / "data" / "models"
    old, new = BundleSpec(version="20260101T000000Z"), BundleSpec(version="20260102T000000Z", seed=3)
    publish(models, build_bundle(models / "bundles", old))
    new_path = build_bundle(models / "bundles", new)
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "REDIS_URL": redis_server.url,
        "LAMBDAREC_DATA_DIR": str(tmp_path / "data"),
        "LAMBDAREC_BUNDLE_POLL_S": "0.2",
        "LAMBDAREC_LOCAL_CACHE_SIZE": "0",
        "LAMBDAREC_CACHE_TTL_S": "0",
        "LAMBDAREC_VENVS": str(Path(sys.executable).parents[2]),
    }
    (tmp_path / "prom").mkdir()
    (tmp_path / "prom" / "counter_99999.db").write_bytes(b"stale")  # serve.sh empties the dir
    proc = subprocess.Popen(
        ["bash", str(REPO_ROOT / "scripts" / "serve.sh")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # both workers load the bundle; /readyz answers from whichever accepts
            try:
                if _get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        for n in range(40):
            status, body = _get(f"{base}/v1/recommendations/u{n}?k=3")
            assert status == 200 and body["model_version"] == old.version
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
            text = r.read().decode()
        served = sum(
            float(ln.rsplit(" ", 1)[1])
            for ln in text.splitlines()
            if ln.startswith('lambdarec_recommendations_total{cached="false"')  # every A/B variant
        )
        assert served == 40.0  # every worker's requests, whichever worker answered /metrics
        workers = [p for p in (tmp_path / "prom").iterdir() if p.name.startswith("counter_")]
        pids = {p.stem.split("_")[1] for p in workers}
        assert len(pids) >= 2 and "99999" not in pids  # two processes wrote; the stale file is gone

        publish(models, new_path)
        deadline = time.monotonic() + 20
        while True:  # livemax: the old version reads 1 while any live worker still serves it
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
                text = r.read().decode()
            if _metric(text, "lambdarec_bundle_info", f'version="{old.version}"') == 0.0:
                break
            assert time.monotonic() < deadline, "a worker kept the old bundle"
            time.sleep(0.2)
        assert _metric(text, "lambdarec_bundle_info", f'version="{new.version}"') == 1.0
        versions = {_get(f"{base}/v1/recommendations/u{n}?k=3")[1]["model_version"] for n in range(30)}
        assert versions == {new.version}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
