"""The console's use of the trace API in a real browser: the score breakdown of explain=true,
why-not for a filtered and a never-retrieved item, and forgetting the user."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.browser import assert_clean, console_page, login, snap
from tests.console.conftest import ADMIN_KEY, NEVER_RETRIEVED, ConsoleApi

pytestmark = [pytest.mark.redis, pytest.mark.browser, pytest.mark.slow]


def _ask(page: Any, item_id: str) -> tuple[str, str]:
    page.fill("#whynot-item", item_id)
    page.click("#whynot-form button[type=submit]")
    page.wait_for_selector("#whynot-result #whynot-outcome, #whynot-result .error")
    return page.inner_text("#whynot-outcome"), page.inner_text("#whynot-sentence")


def test_user_page_explains_scores_and_answers_why_not(console_api: ConsoleApi, browser: Any) -> None:
    with console_page(browser) as (page, errs):
        login(page, console_api.url, ADMIN_KEY, "#/user/u1")
        # explain=true: each row carries its score breakdown, and the trace card its stages.
        assert (
            page.locator("#recs-table details").count()
            == page.locator("#recs-table > tbody > tr").count()
            > 0
        )
        generators = page.inner_text("#trace-generators")
        assert "item_cf" in generators and "popular" in generators

        first = page.eval_on_selector("#recs-table button.not-interested", "b => b.dataset.item")
        page.click(f'#recs-table button.not-interested[data-item="{first}"]')
        page.wait_for_selector("#rec-change p:has-text('Not interested in')")
        assert "not_interested" in page.inner_text("#trace-filters")

        outcome, _ = _ask(page, "no-such-item")
        assert outcome == "unknown_item"
        outcome, sentence = _ask(page, NEVER_RETRIEVED)
        assert outcome == "never_retrieved" and "No generator proposed" in sentence
        assert "stage: retrieve" in page.inner_text("#whynot-result")
        outcome, sentence = _ask(page, first)
        assert outcome == "filtered"
        assert "not interested" in sentence.lower()
        assert "stage: filter" in page.inner_text("#whynot-result")
        page.click("#recs-table > tbody > tr:first-child summary")  # open one score breakdown
        snap(page, "user")
        assert_clean(errs)


def test_forget_button_removes_the_user_and_reports_it(console_api: ConsoleApi, browser: Any) -> None:
    with console_page(browser) as (page, errs):
        login(page, console_api.url, ADMIN_KEY, "#/user/u1")
        assert "2 items" in page.inner_text("#page-user")  # the batch history before
        page.click("#forget")  # arms the button
        assert "Confirm" in page.inner_text("#forget")
        page.click("#forget")
        page.wait_for_selector("#forget-result p")
        report = page.inner_text("#forget-result")
        assert report.startswith("Forgotten:") and "tombstone recorded" in report
        page.wait_for_function("() => document.querySelector('#history') === null || document.querySelector('#page-user').innerText.includes('History (batch layer): 0 items')")  # fmt: skip
        state = console_api.get("/v1/admin/console/users/u1")
        assert state["history"]["count"] == 0 and state["seen"]["count"] == 0
        assert_clean(errs)
