"""What is served now, swapped atomically: the bundle (polled from the ``current`` link).

A ``Bundle`` is immutable once loaded; a request takes one reference at its start and uses it
to the end, so a hot swap never mixes versions within a response. ``prepare`` runs on a new
bundle before it becomes visible (the app loads its in-memory item features there).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .bundle import Bundle, load_bundle

log = logging.getLogger(__name__)


class BundleHolder:
    """Holds the served bundle; ``refresh`` re-reads the ``current`` symlink and swaps one reference."""

    def __init__(
        self,
        link: Path,
        hnsw_threshold: int = 20000,
        on_swap: Callable[[Bundle], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        prepare: Callable[[Bundle], None] | None = None,
        pinned_retry_s: float = 60.0,
        vectors_in_redis: bool = False,
        ef_runtime: int = 200,
    ) -> None:
        self.link = link
        self.ef_runtime = ef_runtime
        self.vectors_in_redis = vectors_in_redis
        self.pinned_retry_s = pinned_retry_s
        # version -> (monotonic time of the next attempt, current back-off) after a failed load
        self._pinned_failed: dict[str, tuple[float, float]] = {}
        self.hnsw_threshold = hnsw_threshold
        self.on_swap = on_swap
        self.on_error = on_error
        self.prepare = prepare
        self._bundle: Bundle | None = None
        self._pinned: dict[str, Bundle] = {}
        self._lock = threading.Lock()  # serialises loads, never readers
        self.last_error: str | None = None

    @property
    def current(self) -> Bundle | None:
        return self._bundle  # one attribute read: atomic under the GIL

    def loaded(self) -> list[Bundle]:
        """The current bundle and every pinned (experiment) bundle."""
        cur = self._bundle
        return [*([cur] if cur is not None else []), *self._pinned.values()]

    def _target(self) -> Path | None:
        try:
            return Path(os.path.realpath(self.link)) if self.link.exists() else None
        except OSError:
            return None

    def _load(self, path: Path) -> Bundle:
        b = load_bundle(path, self.hnsw_threshold, self.vectors_in_redis, self.ef_runtime)
        if self.prepare is not None:
            self.prepare(b)
        return b

    def refresh(self, force: bool = False) -> bool:
        """Load the bundle the link points to if it changed (or ``force``); True when swapped."""
        with self._lock:
            target = self._target()
            if target is None:
                self.last_error = f"no bundle published at {self.link}"
                return False
            cur = self._bundle
            if cur is not None and cur.path == target and not force:
                return False
            try:
                new = self._load(target)
            except Exception as e:
                # Any failure (bad files, numpy, onnxruntime): keep serving the old bundle; say why in logs, readiness and metrics.
                self.last_error = str(e)
                log.error("bundle load failed for %s: %s", target, e)
                if self.on_error is not None:
                    self.on_error(self.last_error)
                return False
            self._bundle = new
            self.last_error = None
        log.info("serving bundle %s from %s", new.version, new.path)
        if self.on_swap is not None:
            self.on_swap(new)
        return True

    def pinned(self, version: str, bundles_dir: Path) -> Bundle | None:
        """A specific bundle version (experiment override), loaded once and kept.

        A failed load is remembered: until its back-off (``pinned_retry_s``, doubling up to 16x)
        has passed, requests get None at once instead of queueing on the lock to fail again.
        """
        b = self._pinned.get(version)
        if b is not None:
            return b
        failed = self._pinned_failed.get(version)
        if failed is not None and time.monotonic() < failed[0]:
            return None
        with self._lock:
            if version in self._pinned:
                return self._pinned[version]
            failed = self._pinned_failed.get(version)
            if failed is not None and time.monotonic() < failed[0]:
                return None  # another request failed it while this one waited for the lock
            try:
                self._pinned[version] = self._load(bundles_dir / version)
            except Exception as e:
                delay = min(failed[1] * 2, self.pinned_retry_s * 16) if failed else self.pinned_retry_s
                self._pinned_failed[version] = (time.monotonic() + delay, delay)
                log.error("pinned bundle %s failed to load (next try in %.0fs): %s", version, delay, e)
                return None
            self._pinned_failed.pop(version, None)
            return self._pinned[version]


class Poller:
    """One daemon thread calling each ``refresh`` every ``interval_s`` (bundle link, feature stamp)."""

    def __init__(self, refreshers: Sequence[Callable[[], object]], interval_s: float) -> None:
        self.refreshers = list(refreshers)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                for fn in self.refreshers:
                    try:
                        fn()
                    except Exception:  # the poller must never die
                        log.exception("poll failed: %s", fn)

        self._thread = threading.Thread(target=loop, name="poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
