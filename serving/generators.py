"""Candidate generators: each a function of one request context returning Candidates.

Generators are looked up by name from ``GENERATORS`` (``LAMBDAREC_GENERATORS`` / experiment
variants pick and order them); adding one is adding a function here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lambdarec_contracts import redis_keys
from lambdarec_contracts.tables import GENRES

from .bundle import Bundle
from .ranking import Candidate
from .store import Store


@dataclass
class UserState:
    """What the request knows about the user (empty for a cold or unreachable user)."""

    generation: int = 0
    seen: set[str] = field(default_factory=set)
    not_interested: set[str] = field(default_factory=set)
    recent: list[str] = field(default_factory=list)  # from events, newest first
    features: dict[str, Any] = field(default_factory=dict)  # Feast full feature names

    @property
    def recent_positive(self) -> list[str]:
        """Anchors for "because you liked": fresh event history first, then batch features."""
        batch = self.features.get("user_stats__recent_positive_items") or []
        return list(dict.fromkeys([*self.recent, *batch]))

    @property
    def history(self) -> list[str]:
        rt = self.features.get("user_realtime__rt_recent_items") or []
        batch = self.features.get("user_stats__recent_items") or []
        return list(dict.fromkeys([*self.recent, *rt, *batch]))

    @property
    def features_present(self) -> bool:
        return any(v is not None for v in self.features.values())

    def top_genres(self, n: int = 2) -> list[str]:
        aff = self.features.get("user_stats__genre_affinity")
        if not aff or len(aff) != len(GENRES):
            return []
        order = np.argsort(-np.asarray(aff, dtype=np.float64), kind="stable")
        return [GENRES[i] for i in order[:n] if aff[i] and aff[i] > 0]


@dataclass
class Context:
    bundle: Bundle
    user_id: str
    state: UserState
    query_embedding: np.ndarray | None
    preferred_genres: list[str]
    n: int
    store: Store
    trending_window_h: int
    trending_fallback_window_h: int
    liked_anchors: int
    trending_cache_s: float = 0.0
    now: float = field(default_factory=time.time)


Generator = Callable[[Context], list[Candidate]]


def two_tower(ctx: Context) -> list[Candidate]:
    """ANN over the bundle's item embeddings with the query tower's embedding."""
    if ctx.query_embedding is None:
        return []
    hits = ctx.bundle.index.search(ctx.query_embedding, ctx.n + 1)
    vocab = ctx.bundle.item_vocab
    return [
        Candidate(vocab[row], ["two_tower"], "Picked for you from your taste profile", s, priority=2)
        for row, s in hits
        if row != 0
    ][: ctx.n]


def because_you_liked(ctx: Context) -> list[Candidate]:
    """Neighbours (collaborative, then text) of the user's recent positive items."""
    b = ctx.bundle
    best: dict[str, Candidate] = {}
    anchors = [a for a in ctx.state.recent_positive if b.available(a)][: ctx.liked_anchors]
    for rank, anchor in enumerate(anchors):
        weight = 1.0 / (1.0 + rank)  # fresher likes count more
        title = b.title(anchor) or anchor
        for table in (b.neighbours_collab, b.neighbours_text):
            for nb, s in table.get(anchor, []):
                score = weight * s
                cur = best.get(nb)
                if cur is None or score > cur.retrieval_score:
                    best[nb] = Candidate(
                        nb, ["because_you_liked"], f"Because you liked {title}", score, priority=0
                    )
    ranked = sorted(best.values(), key=lambda c: (-c.retrieval_score, c.item_id))
    return ranked[: ctx.n]


def _trending_window(ctx: Context, hours: int) -> list[tuple[str, float]]:
    now_h = int(ctx.now // 3600)
    keys = [redis_keys.trending(now_h - i) for i in range(hours)]
    res: list[tuple[bytes, float]] = ctx.store.memo(  # type: ignore[assignment]
        ("trending", now_h, hours),
        ctx.trending_cache_s,
        lambda c: c.zunion(keys, withscores=True),  # type: ignore[arg-type,return-value]
    )
    pairs = [(k.decode() if isinstance(k, bytes) else str(k), float(s)) for k, s in res]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return pairs


def trending(ctx: Context) -> list[Candidate]:
    """Most events in the last day (else week) from the worker's hourly ZSETs; else bundle popularity."""
    for hours, reason in (
        (ctx.trending_window_h, "Trending today" if ctx.trending_window_h <= 24 else "Trending this week"),
        (ctx.trending_fallback_window_h, "Trending this week"),
    ):
        pairs = [(i, s) for i, s in _trending_window(ctx, hours) if ctx.bundle.available(i)]
        if pairs:
            return [Candidate(i, ["trending"], reason, s, priority=3) for i, s in pairs[: ctx.n]]
    pop = ctx.bundle.popular_overall[: ctx.n]
    return [
        Candidate(i, ["trending"], "Popular right now", 1.0 / (1 + r), priority=5) for r, i in enumerate(pop)
    ]


def popular(ctx: Context) -> list[Candidate]:
    """Popular in the preferred (or the user's favourite) genres first, then popular overall."""
    b = ctx.bundle
    genres = ctx.preferred_genres or ctx.state.top_genres()
    out: list[Candidate] = []
    seen: set[str] = set()
    for g in genres:
        for r, i in enumerate(b.popular_by_genre.get(g, [])[: ctx.n]):
            if i not in seen:
                seen.add(i)
                out.append(Candidate(i, ["popular"], f"Popular in {g}", 1.0 / (1 + r), priority=1))
    for r, i in enumerate(b.popular_overall[: ctx.n]):
        if i not in seen:
            seen.add(i)
            out.append(Candidate(i, ["popular"], "Popular with everyone", 0.5 / (1 + r), priority=4))
    return out[: ctx.n * max(1, len(genres) + 1)]


GENERATORS: dict[str, Generator] = {
    "two_tower": two_tower,
    "because_you_liked": because_you_liked,
    "trending": trending,
    "popular": popular,
}
# Cold-start users (no vocabulary entry, no history, no features) get only these.
COLD_START_GENERATORS = ("trending", "popular")
