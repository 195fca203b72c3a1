"""In-process LRU+TTL cache (in front of the Redis cache of final lists)."""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from typing import Any


def jittered(ttl_s: float, rng: random.Random | None = None) -> float:
    """TTL with +-10% jitter so lists cached together don't all expire together."""
    return ttl_s * (rng or random).uniform(0.9, 1.1)


class LocalCache:
    def __init__(self, max_size: int, ttl_s: float) -> None:
        self.max_size = max_size
        self.ttl_s = ttl_s
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            expires, value = hit
            if time.monotonic() >= expires:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: Any, value: Any) -> None:
        if self.max_size <= 0 or self.ttl_s <= 0:
            return
        with self._lock:
            self._data[key] = (time.monotonic() + jittered(self.ttl_s), value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
