"""Per-request bookkeeping of the pure pipeline: stage timings, degradations, counts.

The pipeline only records; the app turns a finished trace into Prometheus metrics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Trace:
    reasons: list[str] = field(default_factory=list)  # degradation reasons, first occurrence order
    timings: list[tuple[str, float]] = field(default_factory=list)  # (stage, seconds)
    candidates: dict[str, int] = field(default_factory=dict)  # generator -> candidates proposed
    generator_failures: list[tuple[str, str]] = field(default_factory=list)  # (generator, kind)
    filter_drops: dict[str, int] = field(default_factory=dict)  # filter -> candidates dropped

    def degrade(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings.append((name, time.perf_counter() - t))
