"""One request through the pure stages: retrieve -> filter -> features -> score -> rank -> explain.

No store, no web framework: the same function serves HTTP requests and offline replays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lambdarec_contracts.feature_vectors import user_vector

from ..bundle import Bundle
from ..schemas import RecommendedItem
from .candidates import Candidates, Proposal, Reason, merge
from .context import PipelineInput, RecParams, UserState
from .explain import explain
from .features import CandidateFeatures, candidate_features
from .filters import apply_filters
from .generators import COLD_START_GENERATORS, GENERATORS, GeneratorContext
from .history import user_history
from .rank import rank
from .score import score_candidates
from .trace import Trace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineResult:
    items: list[RecommendedItem]  # the page
    ranked: Candidates  # every candidate in served order (scores, per-generator ranks, reasons)
    features: CandidateFeatures | None  # of the candidates in score-stage order
    cold: bool
    trace: Trace


def is_cold(bundle: Bundle, user_id: str, state: UserState) -> bool:
    """Nothing the bundle's models can use: not in the vocabulary, no history, no features.

    With item-to-item arrays (current bundles) every interaction counts, including the batch
    layer's full history in ``seen``; legacy bundles only use the recent lists and features.
    """
    uses_seen = bundle.collaborative is not None and bool(state.seen)
    return (
        user_id not in bundle.user_index
        and not uses_seen
        and not state.history
        and not state.features_present
    )


def generator_names(configured: Sequence[str], cold: bool, params: RecParams) -> list[str]:
    names = list(dict.fromkeys(configured))
    if cold:
        names = [n for n in names if n in COLD_START_GENERATORS] or list(COLD_START_GENERATORS)
        if params.genres:  # "Popular in Comedy" leads when the caller named genres
            names = sorted(names, key=lambda n: n != "popular")
    return [n for n in names if n in GENERATORS]


def retrieve(
    names: Sequence[str], ctx: GeneratorContext, timeout_s: float, deadline: float, trace: Trace
) -> list[tuple[str, Proposal]]:
    """Run the generators inline, in configured order; a failed or overrunning one is left out.

    Time here is the request thread's CPU time (``time.thread_time``): generators are in-memory
    work, so waiting for the GIL or a core while other requests run is not theirs to pay for (it
    would turn load into degraded answers). A generator that burns more than ``timeout_s`` of CPU
    is dropped and flagged; once ``deadline`` (CPU) has passed the rest are skipped. Store-bound
    waits have their own limits (socket timeouts) in the load step.
    """
    out = []
    end = time.thread_time()  # one clock read per generator boundary (it is a syscall)
    for n in names:
        t = end
        if t >= deadline:
            trace.degrade(f"generator_timeout:{n}")
            trace.generator_failures.append((n, "timeout"))
            continue
        try:
            with trace.stage(f"generator:{n}"):
                p = GENERATORS[n](ctx)
        except Exception as e:
            log.warning("generator %s failed: %s", n, e)
            trace.degrade(f"generator_failed:{n}")
            trace.generator_failures.append((n, "error"))
            end = time.thread_time()
            continue
        end = time.thread_time()
        if end - t > min(timeout_s, deadline - t):
            # In-memory generators cannot be pre-empted; one that overran is dropped and flagged.
            trace.degrade(f"generator_timeout:{n}")
            trace.generator_failures.append((n, "timeout"))
            continue
        trace.candidates[n] = len(p)
        if trace.detail is not None:
            trace.detail.generators[n] = p
        out.append((n, p))
    return out


def run_pipeline(inp: PipelineInput, trace: Trace | None = None) -> PipelineResult:
    trace = trace if trace is not None else Trace()
    d = trace.detail  # None unless the request asked for an explanation
    b, cfg, st, params = inp.bundle, inp.config, inp.state, inp.params
    user_vec = user_vector(st.features)
    q: np.ndarray | None = None
    with trace.stage("query_tower"):
        try:
            q = b.query_embedding(inp.user_id, st.history, user_vec)
        except Exception as e:  # a broken model must not fail the request
            log.warning("query tower failed: %s", e)
            trace.degrade("query_tower_failed")
    cold = is_cold(b, inp.user_id, st)
    names = generator_names(cfg.generators, cold, params)
    with trace.stage("history"):
        hist = user_history(b, st)
    ctx = GeneratorContext(
        b,
        inp.user_id,
        st,
        q,
        params.genres,
        cfg.candidates_per_generator,
        cfg.liked_anchors,
        inp.trending,
        hist,
        vectors=inp.vectors,
        degrade=trace.degrade,
    )
    with trace.stage("retrieve"):
        cands = merge(retrieve(names, ctx, cfg.generator_timeout_s, inp.deadline, trace))
    if d is not None:
        d.context, d.retrieved = ctx, cands
    with trace.stage("filter"):
        cands, trace.filter_drops = apply_filters(b, st, params, cands, None if d is None else d.filtered)
        if not len(cands):
            # Last resort: the bundle's own popular list (no store needed), still filtered.
            pop = b.popular_overall
            fallback = Proposal(pop, np.zeros(len(pop)), (Reason("Popular with everyone", 4),))
            cands, _ = apply_filters(b, st, params, merge([("popular", fallback)]))
            if len(cands) and names:
                trace.degrade("fallback_popular")
    with trace.stage("features"):
        feats = candidate_features(b, inp.item_features, user_vec, q, cands, hist)
    with trace.stage("score"):
        cands = score_candidates(b, cands, feats, cfg.value_model_weights, cold, trace)
    if d is not None:
        d.scored, d.features = cands, feats
    with trace.stage("rank"):
        ranked = rank(
            b,
            cands,
            boosts=cfg.source_boosts,
            preferred_genres=params.genres,
            max_per_genre=cfg.diversity_max_per_genre,
            window=cfg.diversity_window,
            exploration_share=cfg.exploration_share,
            page_end=params.offset + params.k,
            seed=f"{inp.user_id}:{st.generation}",
            detail=d,
        )
    with trace.stage("explain"):
        page = ranked.take(np.arange(params.offset, min(len(ranked), params.offset + params.k)))
        items = explain(b, page)
    return PipelineResult(items, ranked, feats, cold, trace)
