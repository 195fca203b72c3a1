"""The online recommendation path: retrieve -> filter -> features -> score -> rank -> explain.

Everything that touches Redis or a model degrades instead of failing: the response says
``degraded`` with reasons, a metric counts it, and the request still returns 200.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lambdarec_contracts import redis_keys
from lambdarec_contracts.feature_vectors import (
    ITEM_VECTOR_FEATURE_REFS,
    USER_VECTOR_FEATURE_REFS,
    item_vector,
    user_vector,
)
from lambdarec_contracts.features import FEAST_PROJECT, ITEM_JOIN_KEY, USER_JOIN_KEY

from .bundle import Bundle, BundleHolder
from .cache import LocalCache, jittered
from .events import RECENT_LIST_LEN, EventService
from .experiments import Assignment, ExperimentsConfig, assign
from .generators import COLD_START_GENERATORS, GENERATORS, Context, UserState
from .metrics import Metrics
from .online_features import OnlineFeatureReader
from .ranking import (
    Candidate,
    apply_boosts,
    diversify,
    explore,
    intra_list_diversity,
    merge_candidates,
    sort_by_score,
    value_model,
)
from .settings import ServingSettings
from .store import Store, StoreUnavailable

log = logging.getLogger(__name__)

USER_FEATURE_REFS = [
    *USER_VECTOR_FEATURE_REFS,
    "user_stats:recent_items",
    "user_stats:recent_positive_items",
    "user_realtime:rt_recent_items",
]


@dataclass(frozen=True)
class RecParams:
    k: int = 10
    offset: int = 0
    exclude: frozenset[str] = frozenset()
    genres: tuple[str, ...] = ()
    exclude_genres: frozenset[str] = frozenset()


@dataclass
class RecResult:
    user_id: str
    items: list[dict[str, Any]]
    model_version: str | None
    variant: str
    experiment: str | None
    degraded_reasons: list[str]
    cached: bool
    request_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "items": self.items,
            "model_version": self.model_version,
            "variant": self.variant,
            "experiment": self.experiment,
            "degraded": bool(self.degraded_reasons),
            "degraded_reasons": self.degraded_reasons,
            "cached": self.cached,
            "request_id": self.request_id,
        }


@dataclass
class _Trace:
    """Per-request bookkeeping: degradation reasons and stage timings."""

    metrics: Metrics
    reasons: list[str] = field(default_factory=list)

    def degrade(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.metrics.stage_latency.labels(stage=name).observe(time.perf_counter() - t)


class Recommender:
    """Owns the bundle holder, the store, caches and the generator pool of one app."""

    def __init__(
        self,
        settings: ServingSettings,
        holder: BundleHolder,
        store: Store,
        metrics: Metrics,
        experiments: ExperimentsConfig,
        events: EventService,
    ) -> None:
        self.settings = settings
        self.events = events
        self.holder = holder
        self.store = store
        self.metrics = metrics
        self.experiments = experiments
        self.local_cache = LocalCache(settings.local_cache_size, settings.local_cache_ttl_s)
        self.pool = cf.ThreadPoolExecutor(max_workers=8, thread_name_prefix="generator")
        self.user_reader = OnlineFeatureReader(FEAST_PROJECT, USER_JOIN_KEY, USER_FEATURE_REFS)
        self.item_reader = OnlineFeatureReader(FEAST_PROJECT, ITEM_JOIN_KEY, ITEM_VECTOR_FEATURE_REFS)
        self._served: dict[str, set[str]] = {}  # bundle version -> items served (coverage)
        self._served_lock = threading.Lock()
        # Export every variant's click counter from the start (CTR panels need a series at zero).
        for variant in {"default", *(v.name for e in experiments.experiments for v in e.variants)}:
            metrics.clicks.labels(variant=variant)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- user state ---------------------------------------------------------------------

    def load_user_state(self, user_id: str) -> UserState:
        """One round trip: generation, seen, not-interested, recent list and Feast user features."""

        def queue(p: Any) -> None:
            p.get(redis_keys.rec_cache_generation(user_id))
            p.smembers(redis_keys.seen_items(user_id))
            p.smembers(redis_keys.not_interested(user_id))
            p.lrange(redis_keys.recent_items(user_id), 0, RECENT_LIST_LEN - 1)
            self.user_reader.queue(p, [user_id])

        gen, seen, neg, recent, feats = self.store.pipeline(queue)
        return UserState(
            generation=int(gen or 0),
            seen={s.decode() for s in seen},
            not_interested={s.decode() for s in neg},
            recent=[r.decode() for r in recent],
            features=self.user_reader.decode([feats])[0],
        )

    # --- recommendations ----------------------------------------------------------------

    def _bundle_for(self, a: Assignment, trace: _Trace) -> Bundle | None:
        current = self.holder.current
        if a.variant.bundle:
            pinned = self.holder.pinned(a.variant.bundle, self.settings.bundles_dir)
            if pinned is not None:
                return pinned
            trace.degrade("variant_bundle_unavailable")
        return current

    def _cache_key(self, user_id: str, variant: str, bundle: Bundle, gen: int, p: RecParams) -> str:
        raw = json.dumps(
            [bundle.version, gen, p.k, p.offset, sorted(p.exclude), list(p.genres), sorted(p.exclude_genres)]
        )
        return redis_keys.rec_cache(variant, user_id, hashlib.sha256(raw.encode()).hexdigest()[:16])

    def recommend(self, user_id: str, params: RecParams) -> RecResult:
        request_id = uuid.uuid4().hex
        trace = _Trace(self.metrics)
        deadline = time.monotonic() + self.settings.latency_budget_ms / 1000.0
        a = assign(self.experiments, user_id)
        variant = a.variant.name
        bundle = self._bundle_for(a, trace)
        if bundle is None:
            trace.degrade("no_bundle")
            return self._finish(
                RecResult(user_id, [], None, variant, a.experiment, trace.reasons, False, request_id), None
            )

        state = UserState()
        redis_ok = True
        with trace.stage("user_state"):
            try:
                state = self.load_user_state(user_id)
            except StoreUnavailable:
                redis_ok = False
                trace.degrade("redis_unavailable")

        key = self._cache_key(user_id, variant, bundle, state.generation, params) if redis_ok else None
        if key is not None:
            cached = self._cache_get(key)
            if cached is not None:
                items = cached["items"]
                return self._finish(
                    RecResult(user_id, items, bundle.version, variant, a.experiment, [], True, request_id),
                    bundle,
                    a,
                )

        items = self._compute(bundle, user_id, state, params, a, trace, deadline, request_id)
        result = RecResult(
            user_id, items, bundle.version, variant, a.experiment, trace.reasons, False, request_id
        )
        if key is not None and not trace.reasons:
            self._cache_set(key, {"items": items})
        return self._finish(result, bundle, a)

    def _cache_get(self, key: str) -> dict[str, Any] | None:
        hit = self.local_cache.get(key)
        self.metrics.cache.labels(layer="local", result="hit" if hit is not None else "miss").inc()
        if hit is not None:
            return hit
        try:
            raw: bytes | None = self.store.run(lambda c: c.get(key))  # type: ignore[assignment]
        except StoreUnavailable:
            return None
        self.metrics.cache.labels(layer="redis", result="hit" if raw else "miss").inc()
        if not raw:
            return None
        value = json.loads(raw)
        self.local_cache.set(key, value)
        return value

    def _cache_set(self, key: str, value: dict[str, Any]) -> None:
        self.local_cache.set(key, value)
        if self.settings.cache_ttl_s <= 0:
            return
        ttl_ms = max(1, int(jittered(self.settings.cache_ttl_s) * 1000))
        with suppress(StoreUnavailable):  # caching is best effort
            self.store.run(lambda c: c.set(key, json.dumps(value), px=ttl_ms))

    @staticmethod
    def is_cold(bundle: Bundle, user_id: str, state: UserState) -> bool:
        """Nothing known: not in the model's vocabulary, no history, no features."""
        return user_id not in bundle.user_index and not state.history and not state.features_present

    def _generator_names(self, cold: bool, params: RecParams, a: Assignment) -> list[str]:
        names = a.variant.generators or self.settings.generator_names
        if cold:
            names = [n for n in names if n in COLD_START_GENERATORS] or list(COLD_START_GENERATORS)
            if params.genres:  # "Popular in Comedy" leads when the caller named genres
                names = sorted(names, key=lambda n: n != "popular")
        return [n for n in names if n in GENERATORS]

    def _compute(
        self,
        bundle: Bundle,
        user_id: str,
        state: UserState,
        params: RecParams,
        a: Assignment,
        trace: _Trace,
        deadline: float,
        request_id: str,
    ) -> list[dict[str, Any]]:
        s = self.settings
        v = a.variant
        user_vec = user_vector(state.features)
        q_emb: np.ndarray | None = None
        with trace.stage("query_tower"):
            try:
                q_emb = bundle.query_embedding(user_id, state.history, user_vec)
            except Exception as e:  # a broken model must not fail the request
                log.warning("query tower failed: %s", e)
                trace.degrade("query_tower_failed")

        cold = self.is_cold(bundle, user_id, state)
        names = self._generator_names(cold, params, a)
        ctx = Context(
            bundle=bundle,
            user_id=user_id,
            state=state,
            query_embedding=q_emb,
            preferred_genres=list(params.genres),
            n=s.candidates_per_generator,
            store=self.store,
            trending_window_h=s.trending_window_h,
            trending_fallback_window_h=s.trending_fallback_window_h,
            liked_anchors=s.liked_anchors,
            trending_cache_s=s.trending_cache_s,
        )
        lists: list[list[Candidate]] = []
        with trace.stage("retrieve"):
            futures = {n: self.pool.submit(self._run_generator, n, ctx) for n in names}
            timeout = max(0.0, min(s.generator_timeout_ms / 1000.0, deadline - time.monotonic()))
            cf.wait(futures.values(), timeout=timeout)
            for n, f in futures.items():  # merge in configured priority order
                if not f.done():
                    f.cancel()
                    trace.degrade(f"generator_timeout:{n}")
                    self.metrics.generator_failures.labels(generator=n, kind="timeout").inc()
                    continue
                try:
                    cands = f.result()
                except StoreUnavailable:
                    trace.degrade("redis_unavailable")
                    self.metrics.generator_failures.labels(generator=n, kind="store").inc()
                    continue
                except Exception as e:
                    log.warning("generator %s failed: %s", n, e)
                    trace.degrade(f"generator_failed:{n}")
                    self.metrics.generator_failures.labels(generator=n, kind="error").inc()
                    continue
                self.metrics.candidates.labels(generator=n).inc(len(cands))
                lists.append(cands)
        cands = merge_candidates(lists)

        with trace.stage("filter"):
            cands = self._filter(bundle, state, params, cands)
        if not cands:
            # Last resort: the bundle's own popular list (no Redis needed), still filtered.
            fallback = [
                Candidate(i, ["popular"], "Popular with everyone", 0.0) for i in bundle.popular_overall
            ]
            cands = self._filter(bundle, state, params, fallback, count=False)
            if cands and names:
                trace.degrade("fallback_popular")

        item_feats: list[dict[str, Any]] = [{} for _ in cands]
        with trace.stage("features"):
            ids = [c.item_id for c in cands]
            try:
                if s.feature_fetch == "lua":
                    replies = self.store.run(lambda c: self.item_reader.fetch_lua(c, ids))
                else:
                    replies = self.store.pipeline(lambda p: self.item_reader.queue(p, ids)) if ids else []
                item_feats = self.item_reader.decode(replies)
            except StoreUnavailable:
                trace.degrade("redis_unavailable")

        with trace.stage("score"):
            weights = v.value_model_weights or bundle.manifest.value_model_weights
            scored = False
            # A cold user's ranker scores carry no signal: keep popularity order instead.
            if cands and q_emb is not None and not cold:
                try:
                    ivecs = np.stack([item_vector(f) for f in item_feats])
                    heads = bundle.score(user_vec, ivecs, q_emb, [c.item_id for c in cands])
                    for c, sc in zip(cands, value_model(heads, weights, len(cands)), strict=True):
                        c.score = float(sc)
                    scored = True
                except Exception as e:
                    log.warning("ranker failed: %s", e)
                    trace.degrade("ranker_failed")
            if not scored:  # keep the generators' order
                for r, c in enumerate(cands):
                    c.score = 1.0 / (1.0 + r)

        with trace.stage("rank"):
            apply_boosts(cands, s.source_boosts)
            ranked = sort_by_score(cands)
            if params.genres:  # preferred genres first (stable: score order within each group)
                pref = set(params.genres)
                ranked.sort(key=lambda c: not (pref & set(bundle.item_genres.get(c.item_id, ()))))
            max_pg = v.diversity_max_per_genre or s.diversity_max_per_genre
            window = s.diversity_window if v.diversity_window is None else v.diversity_window
            ranked = diversify(ranked, bundle.item_genres, max_pg, window)
            share = s.exploration_share if v.exploration_share is None else v.exploration_share
            ranked = explore(ranked, params.offset + params.k, share, f"{user_id}:{state.generation}")
            ranked = self._filter(bundle, state, params, ranked, count=False)  # rules re-run after ranking
            page = ranked[params.offset : params.offset + params.k]

        return [
            {
                "item_id": c.item_id,
                "score": round(c.score, 6),
                "source": c.source,
                "reason": c.reason,
                "title": bundle.title(c.item_id),
            }
            for c in page
        ]

    def _run_generator(self, name: str, ctx: Context) -> list[Candidate]:
        t = time.perf_counter()
        try:
            return GENERATORS[name](ctx)
        finally:
            self.metrics.stage_latency.labels(stage=f"generator:{name}").observe(time.perf_counter() - t)

    def _filter(
        self,
        bundle: Bundle,
        state: UserState,
        params: RecParams,
        cands: Sequence[Candidate],
        count: bool = True,
    ) -> list[Candidate]:
        out: list[Candidate] = []
        drops: dict[str, int] = {}
        for c in cands:
            i = c.item_id
            if not bundle.available(i):
                why = "unavailable"
            elif i in state.seen:
                why = "seen"
            elif i in state.not_interested:
                why = "not_interested"
            elif i in params.exclude:
                why = "request_exclude"
            elif params.exclude_genres and params.exclude_genres & set(bundle.item_genres.get(i, ())):
                why = "request_exclude_genres"
            else:
                out.append(c)
                continue
            drops[why] = drops.get(why, 0) + 1
        if count:
            for why, n in drops.items():
                self.metrics.filter_drops.labels(filter=why).inc(n)
        return out

    def _finish(self, r: RecResult, bundle: Bundle | None, a: Assignment | None = None) -> RecResult:
        m = self.metrics
        for reason in r.degraded_reasons:
            m.degraded.labels(reason=reason.split(":")[0]).inc()
        m.recommendations.labels(variant=r.variant, cached=str(r.cached).lower()).inc()
        for it in r.items:
            m.impressions.labels(variant=r.variant, source=it["source"]).inc()
        if bundle is not None and r.items:
            ids = [it["item_id"] for it in r.items]
            with self._served_lock:
                served = self._served.setdefault(bundle.version, set())
                served.update(ids)
                if len(self._served) > 4:  # keep only recent versions
                    self._served.pop(next(iter(self._served)))
                m.coverage.set(len(served) / max(1, len(bundle.items)))
            ild = intra_list_diversity(ids, bundle.item_genres)
            if ild is not None:
                m.diversity.observe(ild)
            if self.settings.log_impressions:
                self.events.log_impressions(
                    r.request_id, r.user_id, r.items, r.model_version, r.variant, r.experiment
                )
        return r

    # --- similar items ------------------------------------------------------------------

    def similar(self, item_id: str, k: int) -> tuple[Bundle | None, list[dict[str, Any]]]:
        """Neighbours of one catalogue item (collaborative, then text, then embedding ANN)."""
        bundle = self.holder.current
        if bundle is None:
            return None, []
        title = bundle.title(item_id) or item_id
        out: dict[str, dict[str, Any]] = {}
        sources = (("similar_collab", bundle.neighbours_collab), ("similar_text", bundle.neighbours_text))
        for source, table in sources:
            for nb, s in table.get(item_id, []):
                if nb != item_id and bundle.available(nb) and nb not in out:
                    out[nb] = {
                        "item_id": nb,
                        "score": round(s, 6),
                        "source": source,
                        "reason": f"Similar to {title}",
                        "title": bundle.title(nb),
                    }
        if len(out) < k and item_id in bundle.item_index:
            vec = bundle.item_embeddings[bundle.item_index[item_id]]
            for row, s in bundle.index.search(vec, k + 2):
                nb = bundle.item_vocab[row]
                if row != 0 and nb != item_id and bundle.available(nb) and nb not in out:
                    out[nb] = {
                        "item_id": nb,
                        "score": round(s, 6),
                        "source": "similar_embedding",
                        "reason": f"Similar to {title}",
                        "title": bundle.title(nb),
                    }
        return bundle, list(out.values())[:k]
