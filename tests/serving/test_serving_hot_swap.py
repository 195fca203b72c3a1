"""Bundle hot swap under concurrent requests against a real uvicorn server."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import uvicorn

from serving.app import create_app
from testing_support.bundle_builder import BundleSpec, build_bundle, publish
from tests.conftest import free_port

pytestmark = pytest.mark.redis


def test_swap_while_hammering(make_settings, models_dir):
    old = BundleSpec(version="20260101T000000Z")
    new_items = {f"n{k}": {"title": f"New {k}", "genres": ["Drama"], "year": 2020} for k in range(1, 13)}
    new = BundleSpec(
        version="20260102T000000Z", items=new_items, seed=11, neighbours_collab={}, neighbours_text={}
    )
    p_old = build_bundle(models_dir / "bundles", old)
    p_new = build_bundle(models_dir / "bundles", new)
    publish(models_dir, p_old)
    catalogue = {old.version: set(old.items), new.version: set(new.items)}

    port = free_port()
    app = create_app(make_settings(LAMBDAREC_BUNDLE_POLL_S=0.05, LAMBDAREC_LOCAL_CACHE_TTL_S=0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)

    stop = threading.Event()
    results: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def hammer(n: int) -> None:
        with httpx.Client(base_url=base, timeout=10) as h:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    resp = h.get(f"/v1/recommendations/u{n}-{i % 7}", params={"k": 5})
                    results.append((resp.status_code, resp.json()))
                except BaseException as e:  # noqa: BLE001 - collected and asserted below
                    errors.append(e)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    try:
        for target in (p_new, p_old, p_new):
            time.sleep(0.4)
            publish(models_dir, target)
        time.sleep(0.5)
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=10)
        server.should_exit = True
        t.join(timeout=10)

    assert not errors
    assert results and all(code == 200 for code, _ in results)
    seen_versions = set()
    for _, body in results:
        v = body["model_version"]
        seen_versions.add(v)
        assert v in catalogue
        assert body["items"] and {it["item_id"] for it in body["items"]} <= catalogue[v]
    assert seen_versions == set(catalogue)
    assert results[-1][1]["model_version"] == new.version
    print(f"hot swap: {len(results)} requests, versions {sorted(seen_versions)}")
