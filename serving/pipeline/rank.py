"""The rank stage: boosts, order, preferred genres, diversity, exploration, the page."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from ..bundle import Bundle
from .candidates import Candidates
from .trace import TraceDetail


def apply_boosts(cands: Candidates, boosts: Mapping[str, float]) -> Candidates:
    """Add each proposing generator's configured boost to the candidate's score."""
    if not boosts:
        return cands
    total = np.zeros(len(cands))
    present = ~np.isnan(cands.gen_scores)
    for g, name in enumerate(cands.generators):
        total += np.where(present[:, g], boosts.get(name, 0.0), 0.0)
    return cands.with_score(cands.score + total)


def preferred_first(
    bundle: Bundle, order: np.ndarray, item_idx: np.ndarray, genres: Sequence[str]
) -> np.ndarray:
    """Stable: candidates in any of ``genres`` first, score order within each group."""
    cols = [j for j, g in enumerate(bundle.genre_names) if g in set(genres)]
    match = bundle.genre_matrix[item_idx[order]][:, cols].any(axis=1)
    return order[np.argsort(~match, kind="stable")]


class GenreLookup(Protocol):
    """Candidate key -> its genres (a list, a dict, or a lazy view)."""

    def __getitem__(self, c: int, /) -> Sequence[str]: ...


def diversify(order: Sequence[int], genres_of: GenreLookup, max_per_genre: int, window: int) -> list[int]:
    """At most ``max_per_genre`` items of one genre within the first ``window`` positions.

    Greedy: fill each of the first ``window`` slots with the best remaining item that keeps every
    one of its genres under the cap; when none does, take the best remaining item (the rule
    relaxes rather than shortening the list). After the window, the rest follows in order.
    ``order`` holds keys of ``genres_of``.
    """
    remaining = list(order)
    out: list[int] = []
    counts: dict[str, int] = {}
    while remaining and len(out) < window:
        pick = next(
            (
                i
                for i, c in enumerate(remaining)
                if all(counts.get(g, 0) < max_per_genre for g in genres_of[c])
            ),
            0,
        )
        c = remaining.pop(pick)
        for g in genres_of[c]:
            counts[g] = counts.get(g, 0) + 1
        out.append(c)
    return out + remaining


def explore(ranked: list[int], k: int, share: float, seed: str) -> list[int]:
    """Swap ``int(k * share)`` slots of the first page for items from beyond it (seeded, reproducible)."""
    n_slots = int(k * share)
    if n_slots <= 0 or len(ranked) <= k:
        return ranked
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "little"))
    pool = np.arange(k, len(ranked))
    chosen = sorted(rng.choice(pool, size=min(n_slots, len(pool)), replace=False).tolist())
    slots = sorted(rng.choice(np.arange(1, k), size=min(len(chosen), k - 1), replace=False).tolist())
    out = list(ranked)
    for slot, src in zip(slots, chosen, strict=False):
        out[slot], out[src] = out[src], out[slot]
    return out


class _CandidateGenres:
    """Candidate index -> genres, looked up only for the candidates diversify examines."""

    def __init__(self, bundle: Bundle, positions: list[int]) -> None:
        self.genres_of, self.positions = bundle.genres_of, positions

    def __getitem__(self, c: int) -> Sequence[str]:
        return self.genres_of[self.positions[c]]


def rank(
    bundle: Bundle,
    cands: Candidates,
    *,
    boosts: Mapping[str, float],
    preferred_genres: Sequence[str],
    max_per_genre: int,
    window: int,
    exploration_share: float,
    page_end: int,
    seed: str,
    detail: TraceDetail | None = None,
) -> Candidates:
    """All candidates in served order (the page is a slice of it).

    ``detail`` (an explained request) gets the boosts and the order before and after each move.
    """
    boosted = apply_boosts(cands, boosts)
    order = np.argsort(-boosted.score, kind="stable")  # ties keep the generators' merge order
    if preferred_genres:
        order = preferred_first(bundle, order, cands.item_idx, preferred_genres)
    by_score = order.tolist()
    diverse = diversify(by_score, _CandidateGenres(bundle, cands.item_idx.tolist()), max_per_genre, window)
    ranked = explore(diverse, page_end, exploration_share, seed)
    if detail is not None:
        detail.boosts = boosted.score - cands.score
        detail.before_diversity, detail.after_diversity, detail.after_exploration = by_score, diverse, ranked
    return boosted.take(np.asarray(ranked, np.int64))


def intra_list_diversity(genre_sets: Sequence[Sequence[str]]) -> float | None:
    """1 - mean pairwise Jaccard similarity of the items' genre sets (None below two items)."""
    bit = {g: 1 << j for j, g in enumerate({g for gs in genre_sets for g in gs})}
    return intra_list_diversity_bits([sum(bit[g] for g in set(gs)) for gs in genre_sets])


def intra_list_diversity_bits(genre_bits: Sequence[int]) -> float | None:
    """``intra_list_diversity`` of genre sets given as bit masks (``Bundle.genre_bits``)."""
    # Plain loops over ints (& | and a popcount per pair): once per served list, and numpy's
    # per-call overhead on 45 pairs cost more than the arithmetic; frozensets cost ~2x the ints.
    n = len(genre_bits)
    if n < 2:
        return None
    total = 0.0
    for i, a in enumerate(genre_bits):
        for b in genre_bits[i + 1 :]:
            union = (a | b).bit_count()
            total += (a & b).bit_count() / union if union else 1.0
    return 1.0 - total / (n * (n - 1) // 2)
