"""The response, and what happens once a list is served: served-list metrics, catalogue coverage,
intra-list diversity, the impression log, the body with this request's ``cached`` and ``request_id``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from .bundle import Bundle
from .experiments import Assignment
from .impressions import ImpressionWriter
from .metrics import Metrics
from .pipeline.rank import intra_list_diversity_bits
from .pipeline.trace import Trace
from .response_cache import ServedList
from .schemas import RecommendationResponse


class ServedLog:
    def __init__(self, metrics: Metrics, impressions: ImpressionWriter, log_impressions: bool) -> None:
        self.metrics = metrics
        self.impressions = impressions
        self.log_impressions = log_impressions
        self._served: dict[str, set[str]] = {}  # bundle version -> items served (coverage)
        self._lock = threading.Lock()

    def finish(
        self,
        user_id: str,
        served: ServedList,
        bundle: Bundle | None,
        a: Assignment,
        trace: Trace,
        cached: bool,
        request_id: str,
    ) -> bytes:
        """The response body; ``served`` is recorded as answered to this request: counted at once
        (``/metrics`` of any worker counts every answered request); on the event loop the rest runs
        once the response is written (the request's task does not yield before that): coverage,
        diversity and the impression queue are not on its latency."""
        self.metrics.record_served(a.variant.name, cached, served.sources(), trace.reasons)
        args = (user_id, served, bundle, a, request_id)
        try:
            asyncio.get_running_loop().call_soon(self._record, *args)
        except RuntimeError:  # a thread-pool request (no loop in this thread): record now
            self._record(*args)
        return served.body(cached, request_id)

    def _record(
        self,
        user_id: str,
        served: ServedList,
        bundle: Bundle | None,
        a: Assignment,
        request_id: str,
    ) -> None:
        m = self.metrics
        variant = a.variant.name
        if bundle is not None and served.items:
            ids = [it["item_id"] for it in served.items]
            with self._lock:
                seen = self._served.setdefault(bundle.version, set())
                seen.update(ids)
                if len(self._served) > 4:  # keep only recent versions
                    self._served.pop(next(iter(self._served)))
                m.coverage.set(len(seen) / max(1, len(bundle.items)))
            pos = bundle.position
            if served.ild is None:  # once per served list, not per cache hit
                bits = bundle.genre_bits
                served.ild = intra_list_diversity_bits([bits[pos[i]] if i in pos else 0 for i in ids])
            if served.ild is not None:
                m.diversity.observe(served.ild)
            if self.log_impressions:
                self.impressions.submit(
                    request_id, user_id, served.items, bundle.version, variant, a.experiment
                )


def page_response(
    user_id: str, items: Sequence, bundle: Bundle | None, a: Assignment, trace: Trace
) -> RecommendationResponse:
    """The response model, built with cached=False and request_id="" (replaced per request)."""
    # Validated, not model_construct: pydantic-core validates faster than model_construct builds.
    return RecommendationResponse(
        user_id=user_id,
        items=list(items),
        model_version=bundle.version if bundle else None,
        variant=a.variant.name,
        experiment=a.experiment,
        degraded=bool(trace.reasons),
        degraded_reasons=list(trace.reasons),
        cached=False,
        request_id="",
    )
