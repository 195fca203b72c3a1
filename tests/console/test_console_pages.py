"""The console in a real browser against a real API: every page shows the stores' actual content,
the like / not-interested buttons change the list, and any script error fails the test."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.console.browser import assert_clean, console_page, go, login, snap
from tests.console.conftest import ADMIN_KEY, FEATURES_STAMP, HISTORY, VERSION, WRITE_KEY, ConsoleApi

pytestmark = [pytest.mark.redis, pytest.mark.browser, pytest.mark.slow]


def _ids(page: Any, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.item)")


def _recommend(api: ConsoleApi, user: str) -> list[str]:
    return [it["item_id"] for it in api.get(f"/v1/recommendations/{user}?k=10", key=None)["items"]]


def test_console_needs_the_admin_key_and_keeps_it_out_of_urls(console_api: ConsoleApi, browser: Any) -> None:
    # The admin JSON refuses the write key and no key; the page shell itself holds no data.
    for key in (None, WRITE_KEY):
        with pytest.raises(urllib.error.HTTPError) as info:
            console_api.get("/v1/admin/console/overview", key=key)
        assert info.value.code in (401, 403)
    with urllib.request.urlopen(f"{console_api.url}/console", timeout=10) as r:
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert b"console.js" in r.read()
    with console_page(browser) as (page, errs):
        errs.allow(r"status of 403")  # the wrong key's refused request
        page.goto(f"{console_api.url}/console#/overview")
        page.fill("#admin-key", "not-the-admin-key-123")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#login-error:has-text('invalid API key')")
        assert page.is_visible("#login-form")
        page.fill("#admin-key", ADMIN_KEY)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#bundle-version")
        assert ADMIN_KEY not in page.url
        assert page.evaluate("k => sessionStorage.getItem(k)", "lambdarec.console.key") == ADMIN_KEY
        assert_clean(errs)


def test_overview_shows_bundle_evaluation_stores_and_live_metrics(
    console_api: ConsoleApi, browser: Any
) -> None:
    served = _recommend(console_api, "u2")  # traffic for the latency, cache and CTR panels
    _recommend(console_api, "u2")  # the same list again: a cache hit
    assert served
    with console_page(browser) as (page, errs):
        login(page, console_api.url, ADMIN_KEY, "#/overview")
        assert page.inner_text("#bundle-version") == VERSION
        assert page.inner_text("#redis-state") == "up"
        assert FEATURES_STAMP in page.inner_text("#features-version")
        streams = page.inner_text("#streams-table")
        assert "lambdarec:events" in streams and "speed-layer" in streams
        rows = page.eval_on_selector_all("#eval-table tbody tr", "rs => rs.map(r => r.innerText)")
        assert [r.split("\t")[0] for r in rows] == ["served", "most_popular", "item_knn", "ease"]
        assert rows[0].endswith("1.03x")  # 0.2692 / 0.2610: the served lift the page computes
        page.wait_for_function("() => document.querySelectorAll('#plots img').length === 2")
        page.wait_for_function("() => [...document.querySelectorAll('#plots img')].every(i => i.complete && i.naturalWidth > 0)")  # fmt: skip
        stages = page.inner_text("#stages-table")
        assert "user_state" in stages
        assert "hit rate 50.0 % of 2 lookups" in page.inner_text("#cache-rate")
        exp = page.eval_on_selector_all(
            "#experiments-table tbody tr", "rs => rs.map(r => r.innerText.split('\\t'))"
        )
        assert {r[1] for r in exp} >= {"control", "engagement"}
        assert sum(int(r[2]) for r in exp) == 2 * len(served)  # items served to u2, twice
        snap(page, "overview")
        assert_clean(errs)


def test_user_page_buttons_change_the_list_read_your_writes(console_api: ConsoleApi, browser: Any) -> None:
    with console_page(browser) as (page, errs):
        login(page, console_api.url, ADMIN_KEY, "#/user/u1")
        history = page.inner_text("#history")
        assert "Heat (1995)" in history and "Airplane (1980)" in history  # HISTORY["u1"]
        before = _ids(page, "#recs-table button.not-interested")
        assert "i10" in before  # Fargo: item_cf neighbour of Heat, from u1's batch history
        assert not set(before) & set(HISTORY["u1"])  # the history is filtered out
        assert "Fargo (1996)" in page.inner_text("#recs-table")

        first = before[0]
        page.click(f'#recs-table button.not-interested[data-item="{first}"]')
        page.wait_for_selector("#rec-change p:has-text('Not interested in')")
        after = _ids(page, "#recs-table button.not-interested")
        assert first not in after and after != before
        assert f"removed {first}" in page.inner_text("#rec-change")
        page.wait_for_function(
            "id => document.querySelector('#realtime').innerText.includes('not interested: 1')", arg=first
        )

        liked = after[0]
        page.click(f'#recs-table button.like[data-item="{liked}"]')
        page.wait_for_selector("#rec-change p:has-text('Liked')")
        assert liked not in _ids(page, "#recs-table button.like")
        page.wait_for_function("() => document.querySelector('#realtime').innerText.includes('seen: 1')")
        # The API agrees with what the page shows: both items are gone from u1's list.
        now = _recommend(console_api, "u1")
        assert first not in now and liked not in now
        assert_clean(errs)


def test_item_page_shows_metadata_neighbours_and_recent_audience(
    console_api: ConsoleApi, browser: Any
) -> None:
    shown = _recommend(console_api, "u3")  # a cold-start user: popular items
    with console_page(browser) as (page, errs):
        login(page, console_api.url, ADMIN_KEY, "#/item/i1")
        assert page.inner_text("#item-title") == "Heat (1995)"
        assert "Action, Crime" in page.inner_text("#item-meta")
        collab = page.inner_text("#similar-similar_collab")
        assert "Fargo (1996)" in collab and "Ronin (1998)" in collab  # the bundle's collaborative neighbours
        assert "Speed (1994)" in page.inner_text("#similar-similar_text")
        snap(page, "item")

        go(page, f"#/item/{shown[0]}")
        page.wait_for_selector("#served-to")
        assert "u3" in page.inner_text("#served-to")
        page.click("#served-to a:text-is('u3')")  # follow the link to the user
        page.wait_for_selector('#page > div[data-route="#/user/u3"]:not([aria-busy])')
        assert page.inner_text("#user-title") == "u3"

        go(page, "#/item/no-such-item")
        errs.allow(r"status of 404")
        assert "not in the served bundle" in page.inner_text("#item-missing")
        assert_clean(errs)


def test_pipelines_page_lists_bundles_gate_decisions_and_airflow_state(
    console_api: ConsoleApi, browser: Any
) -> None:
    with console_page(browser) as (page, errs):
        login(page, console_api.url, ADMIN_KEY, "#/pipelines")
        assert "Airflow not reachable" in page.inner_text("#airflow-state")
        bundles = page.inner_text("#bundles-table")
        assert f"{VERSION} (current)" in bundles
        assert "published: no published bundle; served_lift@10 1.031" in bundles
        log = page.inner_text("#gate-log")
        assert "published" in log and VERSION in log
        snap(page, "pipelines")
        assert_clean(errs)


def test_console_event_proxy_validates_and_records(console_api: ConsoleApi) -> None:
    def post(body: dict[str, Any]) -> int:
        req = urllib.request.Request(
            f"{console_api.url}/v1/admin/console/users/u2/events",
            data=json.dumps(body).encode(),
            headers={"X-API-Key": ADMIN_KEY, "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert post({"item_id": "i3", "type": "rating"}) == 422  # only the console's actions
    assert post({"item_id": "bad id!", "type": "like"}) == 422
    assert post({"item_id": "i3", "type": "like"}) == 202
    state = console_api.get("/v1/admin/console/users/u2")
    assert [s["item_id"] for s in state["seen"]["items"]] == ["i3"]
    assert state["seen"]["items"][0]["title"] == "Speed (1994)"
