"""Bundle hot swap under concurrent requests against a real uvicorn server."""

from __future__ import annotations

import time

import pytest

from serving.app import create_app
from testing_support.bundle_builder import BundleSpec, build_bundle, publish
from testing_support.request_load import RequestLoad
from tests.serving.conftest import LiveServer

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

    app = create_app(make_settings(LAMBDAREC_BUNDLE_POLL_S=0.05, LAMBDAREC_LOCAL_CACHE_TTL_S=0))
    with (
        LiveServer(app) as live,
        RequestLoad(live.url, lambda n, i: f"/v1/recommendations/u{n}-{i % 7}", {"k": 5}, 4) as load,
    ):
        for target in (p_new, p_old, p_new):
            time.sleep(0.4)
            publish(models_dir, target)
        time.sleep(0.5)

    results = load.results
    assert not load.errors
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
