"""The orchestrator of ``GET /v1/recommendations``: load, cache, pipeline, respond, record.

It owns what touches the outside world: the A/B assignment, the bundle and item-feature
references, the one store round trip (``user_state.py``), the response cache, the latency
budget, and turning the pipeline's trace into metrics. Everything between load and response is
the pure ``serving.pipeline``. A failed store call never fails the request: it degrades.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdarec_contracts import redis_keys

from .bundle import Bundle
from .events import EventService
from .experiments import Assignment, ExperimentsConfig, Variant, assign
from .explained import Explained
from .feature_sync import ItemFeatureSync
from .holder import BundleHolder
from .impressions import ImpressionWriter
from .metrics import Metrics
from .pipeline import (
    ItemFeatures,
    PipelineConfig,
    PipelineInput,
    RecParams,
    Trace,
    UserState,
    run_pipeline,
)
from .pipeline.context import pipeline_config
from .pipeline.trace import TraceDetail
from .response_cache import ResponseCache, ServedList, serve_list
from .served import ServedLog, page_response
from .settings import ServingSettings
from .store import Store, StoreUnavailable
from .trending import TrendingCache
from .user_state import UserStateLoader
from .vector_index import MEMORY, VectorSearch
from .vector_store import RedisVectors

log = logging.getLogger(__name__)


class Recommender:
    def __init__(
        self,
        settings: ServingSettings,
        holder: BundleHolder,
        store: Store,
        metrics: Metrics,
        experiments: ExperimentsConfig,
        events: EventService,
        features: ItemFeatureSync,
        impressions: ImpressionWriter,
    ) -> None:
        self.settings = settings
        self.holder = holder
        self.store = store
        self.metrics = metrics
        self.experiments = experiments
        self.events = events
        self.features = features
        self.impressions = impressions
        self.loader = UserStateLoader(store, settings)
        s = settings
        self.trending = TrendingCache(s.trending_window_h, s.trending_fallback_window_h, s.trending_cache_s)
        self.cache = ResponseCache(store, metrics, s.local_cache_size, s.local_cache_ttl_s, s.cache_ttl_s)
        self.vectors: VectorSearch = MEMORY
        if s.vector_backend == "redis":
            self.vectors = RedisVectors(
                store, s.vector_ef_runtime, s.vector_text_neighbours, s.vector_retry_s
            )
        self._configs: dict[str, PipelineConfig] = {}
        self.served = ServedLog(metrics, impressions, s.log_impressions)
        # Export every variant's click counter from the start (CTR panels need a series at zero).
        for variant in {"default", *(v.name for e in experiments.experiments for v in e.variants)}:
            metrics.clicks.labels(variant=variant)

    def config(self, v: Variant) -> PipelineConfig:
        """Settings merged with the variant's overrides (built once per variant)."""
        cfg = self._configs.get(v.name)
        if cfg is None:
            cfg = self._configs[v.name] = pipeline_config(self.settings, v)
        return cfg

    def _bundle_for(self, a: Assignment, trace: Trace) -> Bundle | None:
        current = self.holder.current
        if a.variant.bundle:
            pinned = self.holder.pinned(a.variant.bundle, self.settings.bundles_dir)
            if pinned is not None:
                return pinned
            trace.degrade("variant_bundle_unavailable")
        return current

    def _load_plan(self) -> tuple[float, Callable[[Any], None] | None]:
        """(now, the trending refresh to queue on the load round trip, or None when fresh)."""
        now = time.time()
        return now, (lambda p: self.trending.queue(p, now)) if self.trending.stale(now) else None

    def _loaded(
        self, p: _Pending, loaded: tuple[UserState, list[Any]] | None
    ) -> tuple[UserState, bool, bool]:
        """(state, store ok, trending ok) from the load's result (None: the store failed)."""
        p.trace.timings.append(("user_state", time.perf_counter() - p.t0))
        if loaded is None:
            p.trace.degrade("redis_unavailable")
            return UserState(), False, p.extra is None
        if p.extra is not None:
            self.trending.absorb(loaded[1], p.now)
        return loaded[0], True, True

    def _load(self, p: _Pending) -> tuple[UserState, bool, bool]:
        """The request's one round trip (+ trending when stale), blocking."""
        try:
            loaded = self.loader.load(p.user_id, p.extra)
        except StoreUnavailable:
            loaded = None
        return self._loaded(p, loaded)

    def _generation(self, user_id: str, trace: Trace) -> int | None:
        """The user's cache generation alone (None when the store cannot say)."""
        with trace.stage("user_state"):
            try:
                raw = self.store.commands(lambda p: p.get(redis_keys.rec_cache_generation(user_id)))[0]
            except StoreUnavailable:
                return None
        return int(raw or 0)  # type: ignore[arg-type]

    def recommend_cached(self, user_id: str, params: RecParams) -> bytes | None:
        """An in-process cache hit: one GET of the user's generation, then stored bytes.

        Blocking on the loop (resp's connections, hiredis): one GET costs less blocking than awaited; the
        socket timeout bounds a slow store, then the back-off answers at once (``recommend`` degrades).
        """
        a = assign(self.experiments, user_id)
        bundle = self.holder.current
        if a.variant.bundle or bundle is None:  # a pinned bundle may need loading: not on the loop
            return None
        lkey = self.cache.local_key(user_id, a.variant.name, bundle.version, params)
        entry = self.cache.peek(lkey)
        if entry is None:
            return None
        t = time.perf_counter()
        key = redis_keys.rec_cache_generation(user_id)
        try:
            raw = self.store.commands(lambda p: p.get(key))[0]  # resp: no redis-py per-command work
        except StoreUnavailable:
            return None
        self.metrics.observe_stages((("user_state", time.perf_counter() - t),))
        if int(raw or 0) != entry[0]:  # type: ignore[arg-type]  # stale: the user's events (read-your-writes)
            return None
        self.cache.count_local(True)
        return self.served.finish(user_id, entry[1], bundle, a, Trace(), True, uuid.uuid4().hex)

    async def answer(self, user_id: str, params: RecParams) -> bytes | None:
        """The body when it can be computed on the event loop (a cache hit, or a request that loads
        nothing in bulk: its round trip is awaited, other requests run meanwhile); None: run
        ``recommend`` in a thread."""
        body = self.recommend_cached(user_id, params)
        if body is not None or not self.runs_inline(user_id):
            return body
        p = self._start(user_id, params, local_checked=True)  # recommend_cached just asked Redis
        if isinstance(p, bytes):
            return p
        try:
            done = self._loaded(p, await self.loader.load_async(user_id, p.extra))
        except StoreUnavailable:
            done = self._loaded(p, None)
        key = self._cache_key(p, done)
        return self._complete(p, done, key, await self.cache.get_async(p.lkey, key, done[0].generation))

    def runs_inline(self, user_id: str) -> bool:
        """True when ``recommend`` loads nothing in bulk for this user (no pinned bundle, item
        features in memory): in-memory work plus one round trip bounded by the socket timeout,
        cheaper on the event loop than after a thread-pool hop."""
        bundle = self.holder.current
        if assign(self.experiments, user_id).variant.bundle:
            return False
        return bundle is None or self.features.loaded(bundle)

    def recommend(self, user_id: str, params: RecParams) -> bytes:
        """The response body (JSON bytes) for one request (blocking: a thread's)."""
        p = self._start(user_id, params)
        if isinstance(p, bytes):
            return p
        done = self._load(p)
        key = self._cache_key(p, done)
        return self._complete(p, done, key, self.cache.get(p.lkey, key, done[0].generation))

    def _start(self, user_id: str, params: RecParams, local_checked: bool = False) -> bytes | _Pending:
        """Up to the load: the body when none is needed (no bundle, an in-process hit, unless checked)."""
        request_id = uuid.uuid4().hex
        trace = Trace()
        a = assign(self.experiments, user_id)
        bundle = self._bundle_for(a, trace)
        if bundle is None:
            trace.degrade("no_bundle")
            served = serve_list(page_response(user_id, [], None, a, trace))
            return self.served.finish(user_id, served, None, a, trace, False, request_id)
        lkey = self.cache.local_key(user_id, a.variant.name, bundle.version, params)
        entry = None if local_checked else self.cache.peek(lkey)
        if entry is not None and entry[0] == self._generation(user_id, trace):
            self.cache.count_local(True)  # one GET, then stored bytes: no model or JSON work
            self.metrics.record_trace(trace)
            return self.served.finish(user_id, entry[1], bundle, a, Trace(), True, request_id)
        now, extra = self._load_plan()
        return _Pending(user_id, params, request_id, trace, a, bundle, lkey, now, extra, time.perf_counter())

    def _cache_key(self, p: _Pending, loaded: tuple[UserState, bool, bool]) -> str | None:
        """The Redis cache key ("" when Redis caching is off); None: the load failed (no caching)."""
        if not loaded[1]:
            return None
        self.cache.count_local(False)
        return self.cache.key(p.user_id, p.a.variant.name, p.bundle.version, loaded[0].generation, p.params)

    def _complete(
        self, p: _Pending, loaded: tuple[UserState, bool, bool], key: str | None, hit: ServedList | None
    ) -> bytes:
        """After the load and the Redis cache read: the pipeline, the response."""
        state, _, trending_ok = loaded
        user_id, params, bundle, a = p.user_id, p.params, p.bundle, p.a
        trace, request_id = p.trace, p.request_id
        if hit is not None:
            self.metrics.record_trace(trace)
            return self.served.finish(user_id, hit, bundle, a, Trace(), True, request_id)
        result = run_pipeline(self._input(user_id, params, bundle, a, state, trending_ok, trace), trace)
        served = serve_list(page_response(user_id, result.items, bundle, a, trace))
        if key is not None and not trace.reasons:
            self.cache.set(p.lkey, key, state.generation, served)
        self.metrics.record_trace(trace)
        return self.served.finish(user_id, served, bundle, a, trace, False, request_id)

    def _input(
        self,
        user_id: str,
        params: RecParams,
        bundle: Bundle,
        a: Assignment,
        state: UserState,
        trending_ok: bool,
        trace: Trace,
    ) -> PipelineInput:
        item_features = self.features.get(bundle)
        if item_features is None:
            trace.degrade("item_features_unavailable")
            item_features = ItemFeatures.empty(bundle)
        return PipelineInput(
            bundle=bundle,
            item_features=item_features,
            config=self.config(a.variant),
            params=params,
            user_id=user_id,
            state=state,
            trending=self.trending.windows(bundle) if trending_ok else None,
            # The in-memory part's budget, in this thread's CPU time (see pipeline.run.retrieve).
            deadline=time.thread_time() + self.settings.latency_budget_ms / 1000.0,
            vectors=self.vectors,
        )

    def explain(self, user_id: str, params: RecParams) -> Explained:
        """The answer ``recommend`` would compute now, with every stage's trace.

        The same load and pipeline as a normal request; the response cache is neither read nor
        filled, and nothing is recorded as served (no impressions, no served-list metrics).
        """
        trace = Trace(detail=TraceDetail())
        a = assign(self.experiments, user_id)
        bundle = self._bundle_for(a, trace)
        if bundle is None:
            trace.degrade("no_bundle")
            return Explained(page_response(user_id, [], None, a, trace), trace, None, None)
        now, extra = self._load_plan()
        pending = _Pending(user_id, params, "", trace, a, bundle, (), now, extra, time.perf_counter())
        state, _, trending_ok = self._load(pending)
        inp = self._input(user_id, params, bundle, a, state, trending_ok, trace)
        result = run_pipeline(inp, trace)
        return Explained(page_response(user_id, result.items, bundle, a, trace), trace, inp, result)


@dataclass
class _Pending:
    """A request between its start and its load (``recommend`` blocks on the load, ``answer`` awaits it)."""

    user_id: str
    params: RecParams
    request_id: str
    trace: Trace
    a: Assignment
    bundle: Bundle
    lkey: tuple[object, ...]
    now: float
    extra: Callable[[Any], None] | None  # the trending refresh riding on the load, when stale
    t0: float
