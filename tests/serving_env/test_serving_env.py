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
