"""The console on the demo's running API (tests/e2e/test_demo.py): every page in a browser, with
Airflow's API server started over the demo's Airflow database for the Pipelines page."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import venv_python
from tests.console.browser import assert_clean, console_browser, console_page, go, login, snap, stop_process

DAG_IDS = ("build_features_daily", "train_models", "land_events_hourly")


@contextmanager
def airflow_api_server(env: dict[str, str], port: int, log: Path, timeout_s: float = 240.0) -> Iterator[str]:
    """``airflow api-server`` (one worker) on ``port``, until its token endpoint answers."""
    airflow = str(Path(venv_python("pipeline")).parent / "airflow")
    url = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [airflow, "api-server", "--port", str(port), "--workers", "1"],
            env={**env, "AIRFLOW__API__PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"airflow api-server exited:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/auth/token", timeout=5) as r:
                    if r.status in (200, 201):
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"airflow api-server did not answer in {timeout_s} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(1.0)
        yield url
    finally:
        stop_process(proc)


def _wait_served(url: str, admin_key: str, item: str, user: str, timeout_s: float = 15.0) -> None:
    """Until the impression writer (a background flush) has logged ``user``'s list."""
    req = urllib.request.Request(f"{url}/v1/admin/console/items/{item}", headers={"X-API-Key": admin_key})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(req, timeout=30) as r:
            if user in {u["user_id"] for u in json.loads(r.read())["served_to"]["users"]}:
                return
        time.sleep(0.2)
    raise AssertionError(f"{user}'s list was not logged as impressions within {timeout_s} s")


def walk_console(url: str, admin_key: str, airflow_url: str, version: str, user: str) -> None:
    """Open every page on the demo's data and check what it shows; any script error fails."""
    with console_browser() as browser, console_page(browser) as (page, errs):
        login(page, url, admin_key, "#/overview")
        assert page.inner_text("#bundle-version") == version
        models = page.eval_on_selector_all(
            "#eval-table tbody tr", "rs => rs.map(r => r.innerText.split('\\t')[0])"
        )
        assert {"served", "most_popular", "item_knn", "ease"} <= set(models)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#plots img')].some(i => i.naturalWidth > 0)"
        )
        assert "speed-layer" in page.inner_text("#streams-table")
        assert "never" not in page.inner_text("#features-version")  # the demo materialized features
        snap(page, "overview")

        go(page, f"#/user/{user}")
        assert page.locator("#recs-table > tbody > tr").count() == 10
        before = page.eval_on_selector_all("#recs-table button.like", "bs => bs.map(b => b.dataset.item)")
        page.click(f'#recs-table button.like[data-item="{before[0]}"]')
        page.wait_for_selector("#rec-change p:has-text('Liked')")
        assert before[0] not in page.eval_on_selector_all(
            "#recs-table button.like", "bs => bs.map(b => b.dataset.item)"
        )
        snap(page, "user")

        # The application asks for the user's list (explain=true inspections are not impressions).
        with urllib.request.urlopen(f"{url}/v1/recommendations/{user}?k=10", timeout=30) as r:
            served = json.loads(r.read())["items"]
        item = served[0]["item_id"]
        _wait_served(url, admin_key, item, user)
        go(page, f"#/item/{item}")
        assert page.inner_text("#item-title")
        assert page.locator("#similar-similar_collab li, #similar-similar_text li").count() > 0
        assert user in page.inner_text("#served-to")  # its list contained the item a moment ago
        snap(page, "item")

        go(page, "#/pipelines")
        state = page.inner_text("#airflow-state")
        for dag_id in DAG_IDS:
            assert dag_id in state
            assert "success" in page.inner_text(f"#runs-{dag_id}")
        links = page.eval_on_selector_all("#airflow-state a", "as => as.map(a => a.href)")
        assert all(h.startswith(airflow_url) for h in links)
        bundles = page.inner_text("#bundles-table")
        assert f"{version} (current)" in bundles and "published:" in bundles
        snap(page, "pipelines")
        assert_clean(errs)


def run(demo: Any, user: str, version: str, admin_key: str) -> None:
    port = int(demo.env["AIRFLOW_PORT"])
    with airflow_api_server(
        demo.airflow_env, port, demo.var / "logs" / "airflow-api-server.log"
    ) as airflow_url:
        walk_console(f"http://127.0.0.1:{demo.port}", admin_key, airflow_url, version, user)
