"""Candidate generators: a registry of small pure functions ``ctx -> Proposal``.

``LAMBDAREC_GENERATORS`` / experiment variants pick and order them by name; adding one is adding
a function to ``GENERATORS`` (the orchestrator needs no change). They run inline: in-memory,
vectorised work over the bundle's arrays; nearest-vector look-ups go through ``ctx.vectors``
(the bundle's index, or Redis's query engine with ``LAMBDAREC_VECTOR_BACKEND=redis``, which falls
back to the bundle's and flags the response when Redis cannot answer).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ..bundle import Bundle
from ..vector_index import MEMORY, VectorSearch, VectorsUnavailable
from .candidates import Proposal, Reason, first_occurrences
from .context import TrendingWindow, UserState
from .history import UserHistory

T = TypeVar("T")


def _no_flag(reason: str) -> None:
    return None


@dataclass(frozen=True)
class GeneratorContext:
    bundle: Bundle
    user_id: str
    state: UserState
    query_embedding: np.ndarray | None
    preferred_genres: tuple[str, ...]
    n: int  # candidates per generator
    liked_anchors: int
    trending: tuple[TrendingWindow, ...] | None  # None: the trending store could not be read
    history: UserHistory
    vectors: VectorSearch = MEMORY  # nearest-vector backend (memory or Redis)
    degrade: Callable[[str], None] = _no_flag  # flags the response (Trace.degrade)


def _from_vectors(ctx: GeneratorContext, kind: str, ask: Callable[[VectorSearch], T]) -> T:
    """``ask(ctx.vectors)``; when that backend cannot answer, the in-memory one does (flagged)."""
    try:
        return ask(ctx.vectors)
    except VectorsUnavailable as e:
        ctx.degrade(f"vector_fallback:{kind}:{e}")
        return ask(MEMORY)


Generator = Callable[[GeneratorContext], Proposal]


def two_tower(ctx: GeneratorContext) -> Proposal:
    """ANN over the bundle's item embeddings with the query tower's embedding (history excluded)."""
    if ctx.query_embedding is None:
        return Proposal.empty()
    # Bundles with the served-candidate ranker were trained on two-tower ranks among the items
    # outside the user's history: over-fetch by the history and drop it (legacy bundles: as before).
    drop = ctx.bundle.served_ranker
    exclude = ctx.history.idx if drop else np.zeros(0, np.int64)
    q = ctx.query_embedding
    rows, scores = _from_vectors(ctx, "item", lambda v: v.nearest_items(ctx.bundle, q, ctx.n, exclude))
    keep = rows != 0  # the OOV row is never a candidate
    if drop:
        keep &= ~ctx.history.in_history[rows]
    rows, scores = rows[keep][: ctx.n], scores[keep][: ctx.n]
    return Proposal(rows, scores, (Reason("Picked for you from your taste profile", 2),))


def item_cf(ctx: GeneratorContext) -> Proposal:
    """Items that go with the user's whole history (EASE over all interactions, from the bundle)."""
    h, b = ctx.history, ctx.bundle
    if h.item_cf is None:
        return Proposal.empty()
    ok = (h.item_cf > 0) & ~h.in_history & b.available_mask
    ok[0] = False
    cand = np.flatnonzero(ok)
    if not len(cand):
        return Proposal.empty()
    s = h.item_cf[cand]
    top = cand[np.lexsort((b.id_order[cand], -s))][: ctx.n]
    # The reason names the freshest liked item whose neighbours include the candidate.
    anchors = [b.position[a] for a in ctx.state.recent_positive if a in b.position][: ctx.liked_anchors]
    reason_idx = np.full(len(top), len(anchors), np.int64)
    assert b.collaborative is not None  # h.item_cf is only set with it
    for k in range(len(anchors) - 1, -1, -1):
        nbrs, _ = b.collaborative.item_cf.row(anchors[k])
        reason_idx[np.isin(top, nbrs)] = k
    reasons = tuple(
        [
            *(Reason(f"Because you liked {b.titles[a] or b.item_ids[a]}", 0) for a in anchors),
            Reason("Often chosen by people with your history", 2),
        ]
    )
    return Proposal(top, h.item_cf[top].astype(np.float64), reasons, reason_idx)


def because_you_liked(ctx: GeneratorContext) -> Proposal:
    """Neighbours (collaborative, then text) of the user's recent positive items."""
    b = ctx.bundle
    anchors = [b.position[a] for a in ctx.state.recent_positive if a in b.items][: ctx.liked_anchors]
    parts = [b.liked_neighbours.of(a) for a in anchors]
    if anchors and b.text_vectors:
        text = _from_vectors(ctx, "text", lambda v: v.text_neighbours(b, anchors))
        if text is not None:  # the collaborative lists from the bundle, the text ones from the backend
            parts = _with_text(parts, [int(b.liked_neighbours.first[a]) for a in anchors], text)
    if not anchors or not sum(len(p[0]) for p in parts):
        return Proposal.empty()
    idx = np.concatenate([p[0] for p in parts])
    anchor_of = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
    # Fresher likes count more: weight 1 / (1 + the anchor's rank).
    score = (1.0 / (1.0 + anchor_of)) * np.concatenate([s for _, s in parts])
    # Best score per neighbour; among equal scores the first proposed (fresher anchor) wins.
    by = np.lexsort((np.arange(len(idx)), -score, idx))
    sorted_idx = idx[by]
    first = np.ones(len(by), bool)
    first[1:] = sorted_idx[1:] != sorted_idx[:-1]
    best = by[first]
    best = best[np.lexsort((b.id_order[idx[best]], -score[best]))][: ctx.n]
    reasons = tuple(Reason(f"Because you liked {b.titles[a] or b.item_ids[a]}", 0) for a in anchors)
    return Proposal(idx[best], score[best], reasons, anchor_of[best])


def _with_text(
    parts: list[tuple[np.ndarray, np.ndarray]],
    n_collab: Sequence[int],
    text: Sequence[tuple[np.ndarray, np.ndarray]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each anchor's collaborative neighbours (the first ``n_collab`` entries), then ``text``'s."""
    return [
        (np.concatenate([i[:c], ti]), np.concatenate([s[:c], ts]))
        for (i, s), c, (ti, ts) in zip(parts, n_collab, text, strict=True)
    ]


def trending(ctx: GeneratorContext) -> Proposal:
    """Most events in the last day (else week) from the worker's hourly ZSETs; else bundle popularity."""
    if ctx.trending is None:
        return Proposal.empty()
    for w in ctx.trending:
        if len(w.item_idx):
            return Proposal(w.item_idx[: ctx.n], w.scores[: ctx.n], (Reason(w.reason, 3),))
    pop = ctx.bundle.popular_overall[: ctx.n]
    return Proposal(pop, 1.0 / (1.0 + np.arange(len(pop))), (Reason("Popular right now", 5),))


# Per bundle: (genres, n) -> the popular proposal (a pure function of them; few distinct keys).
_POPULAR: weakref.WeakKeyDictionary[Bundle, dict[tuple[tuple[str, ...], int], Proposal]] = (
    weakref.WeakKeyDictionary()
)


def popular(ctx: GeneratorContext) -> Proposal:
    """Popular in the preferred (or the user's favourite) genres first, then popular overall."""
    genres = tuple(ctx.preferred_genres) or tuple(ctx.state.top_genres())
    memo = _POPULAR.get(ctx.bundle)
    if memo is None:
        memo = _POPULAR.setdefault(ctx.bundle, {})
    key = (genres, ctx.n)
    hit = memo.get(key)
    if hit is None:
        if len(memo) >= 1024:  # many distinct genre lists asked for: start over
            memo.clear()
        hit = memo[key] = _popular(ctx.bundle, list(genres), ctx.n)
    return hit


def _popular(b: Bundle, genres: list[str], n: int) -> Proposal:
    lists = [b.popular_by_genre.get(g, np.zeros(0, np.int64))[:n] for g in genres]
    lists.append(b.popular_overall[:n])
    reasons = tuple([*(Reason(f"Popular in {g}", 1) for g in genres), Reason("Popular with everyone", 4)])
    idx = np.concatenate(lists)
    which = np.concatenate([np.full(len(x), k, np.int64) for k, x in enumerate(lists)])
    weight = np.where(which == len(genres), 0.5, 1.0)
    score = weight / (1.0 + np.concatenate([np.arange(len(x)) for x in lists]))
    keep = first_occurrences(idx)[: n * max(1, len(genres) + 1)]
    arrays = idx[keep], score[keep], which[keep]
    for a in arrays:  # shared by every request with these genres: read-only
        a.setflags(write=False)
    return Proposal(arrays[0], arrays[1], reasons, arrays[2])


GENERATORS: dict[str, Generator] = {
    "item_cf": item_cf,
    "two_tower": two_tower,
    "because_you_liked": because_you_liked,
    "trending": trending,
    "popular": popular,
}
# Cold-start users (no vocabulary entry, no history, no features) get only these.
COLD_START_GENERATORS = ("trending", "popular")
