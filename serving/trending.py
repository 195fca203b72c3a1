"""The trending windows, the same for every user: one copy per process, refreshed every few seconds.

The refresh rides on a request's load round trip (two ZUNIONs of hour buckets); the pipeline
gets the windows as item positions of its bundle (converted once per bundle and refresh).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from lambdarec_contracts import redis_keys

from .bundle import Bundle
from .pipeline.context import TrendingWindow, trending_window


class TrendingCache:
    def __init__(self, window_h: int, fallback_window_h: int, ttl_s: float) -> None:
        self.windows_h = (window_h, fallback_window_h)
        self.reasons = ("Trending today" if window_h <= 24 else "Trending this week", "Trending this week")
        self.ttl_s = ttl_s
        self._raw: tuple[float, int, list[list[tuple[str, float]]]] | None = None  # (fetched, hour, pairs)
        self._seq = 0  # bumped per refresh: converted windows of an older refresh are stale
        self._converted: dict[str, tuple[int, tuple[TrendingWindow, ...]]] = {}
        self._lock = threading.Lock()

    def stale(self, now: float) -> bool:
        raw = self._raw
        return raw is None or raw[1] != int(now // 3600) or time.monotonic() - raw[0] >= self.ttl_s

    def queue(self, p: Any, now: float) -> None:
        """Queue one ZUNION per window on the request's pipeline."""
        now_h = int(now // 3600)
        for hours in self.windows_h:
            p.zunion([redis_keys.trending(now_h - i) for i in range(hours)], withscores=True)

    def absorb(self, replies: list[Any], now: float) -> None:
        pairs = [[(k.decode() if isinstance(k, bytes) else str(k), float(s)) for k, s in r] for r in replies]
        with self._lock:
            self._raw = (time.monotonic(), int(now // 3600), pairs)
            self._seq += 1
            self._converted.clear()

    def windows(self, bundle: Bundle) -> tuple[TrendingWindow, ...] | None:
        """The last windows read, over ``bundle`` (None before the first successful read)."""
        raw, key = self._raw, self._seq
        if raw is None:
            return None
        hit = self._converted.get(bundle.version)
        if hit is not None and hit[0] == key:
            return hit[1]
        out = tuple(trending_window(bundle, p, r) for p, r in zip(raw[2], self.reasons, strict=True))
        with self._lock:
            if len(self._converted) > 8:
                self._converted.clear()
            self._converted[bundle.version] = (key, out)
        return out
