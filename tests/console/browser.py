"""Playwright on Debian's chromium, for the console tests (here and in tests/e2e).

Every page opened through ``ConsoleBrowser.page`` records uncaught script errors and console
errors; ``assert_clean`` fails the test on any that was not expected (a broken page fails).
``LAMBDAREC_CONSOLE_SCREENSHOTS=DIR`` makes ``snap`` save a PNG per page there (README images).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("LAMBDAREC_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 900}
KEY_STORE = "lambdarec.console.key"  # the sessionStorage key console.js uses


def chromium_path() -> str:
    path = shutil.which(CHROMIUM) or CHROMIUM
    if not Path(path).is_file():
        raise RuntimeError(
            f"no chromium at {CHROMIUM}: apt-get install chromium (scripts/setup_envs.sh does)"
        )
    return path


@dataclass
class PageErrors:
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """An error expected by the test (e.g. the 403 of a wrong key), matched by regex."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@contextmanager
def console_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def console_page(browser: Any) -> Iterator[tuple[Any, PageErrors]]:
    """A fresh tab (own sessionStorage) whose script and console errors are recorded."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errs = PageErrors()
    page.on("pageerror", lambda exc: errs.errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errs.errors.append(f"console.{msg.type}: {msg.text} @ {msg.location.get('url', '')}")
            if msg.type == "error"
            else None
        ),
    )
    try:
        yield page, errs
    finally:
        context.close()


def assert_clean(errs: PageErrors) -> None:
    bad = errs.unexpected()
    assert not bad, "the console page reported errors:\n" + "\n".join(bad)


def login(page: Any, base_url: str, key: str, route: str = "#/overview") -> None:
    """Open the console and enter the admin key in its form (as a person would)."""
    page.goto(f"{base_url}/console{route}")
    page.fill("#admin-key", key)
    page.click("#login-form button[type=submit]")
    wait_loaded(page, route)


def wait_loaded(page: Any, route: str, timeout_ms: float = 20_000) -> None:
    """Until the page of ``route`` has finished drawing (console.js drops aria-busy when done)."""
    page.wait_for_selector(f'#page > div[data-route="{route}"]:not([aria-busy])', timeout=timeout_ms)


def go(page: Any, route: str) -> None:
    """Navigate inside the console (a hash change, as a click on a link does)."""
    page.evaluate("r => { location.hash = r; }", route)
    wait_loaded(page, route)


def snap(page: Any, name: str) -> None:
    """With LAMBDAREC_CONSOLE_SCREENSHOTS=DIR: the whole page as DIR/name.png (a 128-colour
    palette keeps the README's images small)."""
    out = os.environ.get("LAMBDAREC_CONSOLE_SCREENSHOTS")
    if not out:
        return
    from PIL import Image

    path = Path(out) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=128)
    small.save(path, optimize=True)


def stop_process(proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """Terminate a server the test started, killing it if it does not stop in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)
