"""Per-request bookkeeping of the pure pipeline: stage timings, degradations, counts.

The pipeline only records; the app turns a finished trace into Prometheus metrics. With
``Trace(detail=TraceDetail())`` (an explained request) the stages also keep what they did:
references to arrays they computed anyway, recorded once per stage, never per candidate.
A normal request leaves ``detail`` None and pays one attribute test per stage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class TraceDetail:
    """What each stage saw and did, as item positions in the bundle (``explain.trace_document``
    turns it into the response's ``trace``)."""

    generators: dict[str, Any] = field(default_factory=dict)  # name -> Proposal (best first)
    context: Any = None  # the GeneratorContext (why-not re-runs generators over the catalogue)
    retrieved: Any = None  # Candidates after the merge, before the filters
    filtered: dict[str, np.ndarray] = field(default_factory=dict)  # rule -> item positions dropped
    scored: Any = None  # Candidates after the score stage (score = value model, before boosts)
    features: Any = None  # CandidateFeatures of ``scored`` (same rows)
    heads: dict[str, np.ndarray] = field(default_factory=dict)  # ranker head -> [n] of ``scored``
    boosts: np.ndarray | None = None  # [n] boost added per candidate of ``scored``
    before_diversity: list[int] = field(default_factory=list)  # candidate order by score
    after_diversity: list[int] = field(default_factory=list)
    after_exploration: list[int] = field(default_factory=list)


@dataclass
class Trace:
    reasons: list[str] = field(default_factory=list)  # degradation reasons, first occurrence order
    timings: list[tuple[str, float]] = field(default_factory=list)  # (stage, seconds)
    candidates: dict[str, int] = field(default_factory=dict)  # generator -> candidates proposed
    generator_failures: list[tuple[str, str]] = field(default_factory=list)  # (generator, kind)
    filter_drops: dict[str, int] = field(default_factory=dict)  # filter -> candidates dropped
    detail: TraceDetail | None = None  # set: an explained request (stages record what they did)

    def degrade(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def stage(self, name: str) -> _Stage:
        """``with trace.stage(name):`` appends (name, seconds) to ``timings``."""
        return _Stage(self.timings, name)


class _Stage:
    """A plain context manager: ~15 per request, a generator-based one cost several times more."""

    __slots__ = ("name", "t", "timings")

    def __init__(self, timings: list[tuple[str, float]], name: str) -> None:
        self.timings, self.name, self.t = timings, name, 0.0

    def __enter__(self) -> None:
        self.t = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings.append((self.name, time.perf_counter() - self.t))
