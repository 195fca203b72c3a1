"""A real serving API for the console tests: uvicorn in a subprocess, its own redis-server, a
small bundle published through the real quality gate, and a browser (Debian's chromium).

The bundle is the hand-made one of ``testing_support.bundle_builder`` (a dozen items, a
served-candidate ranker), given file checksums and served metrics so that ``training.publish``
gates it and records the decision like a training run's bundle; its report is written by
``training.report.write`` (tables and plots) from the evaluation figures set below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from lambdarec_contracts import redis_keys, user_history
from lambdarec_contracts.bundle import MANIFEST_FILE, BundleManifest
from testing_support.bundle_builder import BundleSpec, build_bundle
from testing_support.redis_server import RedisServer, free_port
from tests.conftest import REPO_ROOT
from tests.console.browser import console_browser, stop_process

ADMIN_KEY = "console-admin-key-5c1d2e"
WRITE_KEY = "console-write-key-9b7f0a"
VERSION = "20261101T120000000Z-console"
FEATURES_STAMP = "2026-10-31T00:00:00+00:00"
# u1 has watched Heat (i1) and Airplane (i4): item_cf proposes their neighbours.
HISTORY = {"u1": ["i1", "i4"], "u2": ["i2"]}
# Only these are popular, so the other items are proposed by no generator (never retrieved).
POPULAR = ["i9", "i3", "i1", "i7", "i8"]
NEVER_RETRIEVED = "i11"  # Up: no generator proposes it to u1 nor to a cold-start user
# The evaluation figures of the report (the shape training writes; values of a small run).
REPORT_MODELS = {
    "served": {"recall@10": 0.2692, "recall@50": 0.6005, "ndcg@10": 0.3571, "hit_rate@10": 0.8927},
    "most_popular": {"recall@10": 0.1271, "recall@50": 0.3297, "ndcg@10": 0.2020, "hit_rate@10": 0.65},
    "item_knn": {"recall@10": 0.2448, "recall@50": 0.5491, "ndcg@10": 0.3242, "hit_rate@10": 0.862},
    "ease": {"recall@10": 0.2610, "recall@50": 0.5733, "ndcg@10": 0.3387, "hit_rate@10": 0.896},
}


@dataclass
class ConsoleApi:
    url: str
    redis_url: str
    data_dir: Path
    version: str

    def get(self, path: str, key: str | None = ADMIN_KEY) -> Any:
        req = urllib.request.Request(f"{self.url}{path}", headers={"X-API-Key": key} if key else {})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())


def _report(bundle_dir: Path) -> None:
    from training.report import write

    curves = {name: np.linspace(0.05, m["recall@50"], 50) for name, m in REPORT_MODELS.items()}
    report = {
        "bundle_version": VERSION,
        "split": {"protocol": "per-user temporal hold-out", "n_eval_users": 3, "n_catalogue": 12},
        "retrieval": REPORT_MODELS,
        "served": {"seen_items_served": 0, "generator_share@10": {"item_cf": 0.6, "popular": 0.4}},
        "ranker": {"auc": 0.71},
        "timings": {"train": 1.0},
        "value_model_weights": {"p_interaction": 1.0, "rating": 0.0},
    }
    write(bundle_dir, report, curves, {"retrieval": [0.9, 0.7, 0.6]})


def _publish(data_dir: Path) -> None:
    """Stage the bundle, give it what a training run records, publish it through the gate."""
    from training.artifacts import file_checksums
    from training.publish import publish

    models = data_dir / "models"
    spec = BundleSpec(version=VERSION, served=True, popular_overall=POPULAR, popular_by_genre={})
    staged = build_bundle(models / "staging", spec)
    _report(staged)
    man = BundleManifest.model_validate_json((staged / MANIFEST_FILE).read_text())
    metrics = {"served_recall@10": 0.2692, "served_lift@10": 0.2692 / 0.2610}
    baselines = {k: v for k, v in REPORT_MODELS.items() if k != "served"}
    man = man.model_copy(
        update={"metrics": metrics, "baselines": baselines, "file_checksums": file_checksums(staged)}
    )
    (staged / MANIFEST_FILE).write_text(man.model_dump_json())
    publish(staged, models)


def _seed_redis(url: str) -> None:
    """What the batch layer and the worker leave in Redis: histories, the stamps, the groups."""
    from jobs.speed_layer.stream import ensure_groups

    c = redis.Redis.from_url(url)
    try:
        for user, items in HISTORY.items():
            c.set(redis_keys.user_history(user), user_history.encode(items))
        c.set(redis_keys.USER_HISTORY_VERSION, "2026-10-31")
        c.set(redis_keys.FEATURES_VERSION, FEATURES_STAMP)
        ensure_groups(c)
    finally:
        c.close()


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API was not ready in {timeout_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def console_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleApi]:
    root = tmp_path_factory.mktemp("console")
    server = RedisServer(port=free_port(), workdir=tmp_path_factory.mktemp("console-redis"), durable=False)
    server.start()
    data_dir = root / "data"
    _publish(data_dir)
    _seed_redis(server.url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMBDAREC_", "PROMETHEUS_"))}
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "LAMBDAREC_DATA_DIR": str(data_dir),
            "REDIS_URL": server.url,
            "LAMBDAREC_API_KEY": WRITE_KEY,
            "LAMBDAREC_ADMIN_KEY": ADMIN_KEY,
            "LAMBDAREC_EXPERIMENTS_FILE": str(REPO_ROOT / "serving" / "experiments.yaml"),
            "LAMBDAREC_EXPLORATION_SHARE": "0",
            "LAMBDAREC_GENERATORS": "item_cf,because_you_liked,popular",
            # Where no Airflow answers: the Pipelines page must say so (tests/e2e checks a live one).
            "LAMBDAREC_AIRFLOW_URL": f"http://127.0.0.1:{free_port()}",
            "LAMBDAREC_AIRFLOW_TIMEOUT_S": "1",
        }
    )
    log = root / "api.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield ConsoleApi(url=url, redis_url=server.url, data_dir=data_dir, version=VERSION)
    finally:
        stop_process(proc)
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with console_browser() as b:
        yield b
