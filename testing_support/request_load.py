"""Concurrent GETs against a live server while a test does something else (a bundle swap, a publish)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx


class RequestLoad:
    """``threads`` clients GET ``path(thread, i)`` back to back from entering until leaving the block.

    Every response lands in ``results`` as (status, JSON body), every exception in ``errors``; the
    caller asserts on both after the block.
    """

    def __init__(
        self, base_url: str, path: Callable[[int, int], str], params: dict[str, Any], threads: int
    ) -> None:
        self.base_url, self.path, self.params = base_url, path, params
        self.results: list[tuple[int, dict[str, Any]]] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as h:
            i = 0
            while not self._stop.is_set():
                i += 1
                try:
                    resp = h.get(self.path(n, i), params=self.params)
                    self.results.append((resp.status_code, resp.json()))
                except BaseException as e:  # noqa: BLE001 - collected for the caller to assert on
                    self.errors.append(e)

    def __enter__(self) -> RequestLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
