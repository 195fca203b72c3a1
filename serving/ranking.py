"""Pure ranking functions: value model, boosts, diversity, exploration, list quality."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Candidate:
    """One item proposed by one or more generators."""

    item_id: str
    sources: list[str] = field(default_factory=list)
    reason: str = ""
    retrieval_score: float = 0.0
    score: float = 0.0
    priority: int = 100  # which reason wins when generators overlap (lower wins)

    @property
    def source(self) -> str:
        return "+".join(self.sources)


def merge_candidates(lists: Sequence[Sequence[Candidate]]) -> list[Candidate]:
    """Union of generator lists in first-seen order; sources accumulate.

    The reason shown is the one with the best (lowest) priority: "Because you liked Heat"
    says more than "Popular with everyone".
    """
    out: dict[str, Candidate] = {}
    for cands in lists:
        for c in cands:
            cur = out.get(c.item_id)
            if cur is None:
                out[c.item_id] = Candidate(
                    c.item_id, list(c.sources), c.reason, c.retrieval_score, 0.0, c.priority
                )
            else:
                cur.sources.extend(s for s in c.sources if s not in cur.sources)
                if c.priority < cur.priority:
                    cur.reason, cur.priority = c.reason, c.priority
    return list(out.values())


def value_model(heads: Mapping[str, np.ndarray], weights: Mapping[str, float], n: int) -> np.ndarray:
    """score = sum(w[h] * normalised head h); rating heads (in stars) are divided by 5."""
    total = np.zeros(n, dtype=np.float64)
    for name, w in weights.items():
        if name not in heads:
            continue
        h = heads[name].astype(np.float64)
        if "rating" in name:
            h = h / 5.0
        total += w * h
    return total


def apply_boosts(cands: Sequence[Candidate], boosts: Mapping[str, float]) -> None:
    """Add each source's configured boost (once per source) to the candidate's score."""
    if not boosts:
        return
    for c in cands:
        c.score += sum(boosts.get(s, 0.0) for s in c.sources)


def sort_by_score(cands: Sequence[Candidate]) -> list[Candidate]:
    """Score descending; ties keep the generators' merge order (deterministic)."""
    return sorted(cands, key=lambda c: -c.score)


def diversify(
    ranked: Sequence[Candidate],
    genres: Mapping[str, Sequence[str]],
    max_per_genre: int,
    window: int,
) -> list[Candidate]:
    """At most ``max_per_genre`` items of one genre within the first ``window`` positions.

    Greedy: fill each of the first ``window`` slots with the best remaining item that keeps every
    one of its genres under the cap; when none does, take the best remaining item (the rule
    relaxes rather than shortening the list). After the window, the rest follows in order.
    """
    remaining = list(ranked)
    out: list[Candidate] = []
    counts: dict[str, int] = {}
    while remaining and len(out) < window:
        pick = next(
            (
                i
                for i, c in enumerate(remaining)
                if all(counts.get(g, 0) < max_per_genre for g in genres.get(c.item_id, ()))
            ),
            0,
        )
        c = remaining.pop(pick)
        for g in genres.get(c.item_id, ()):
            counts[g] = counts.get(g, 0) + 1
        out.append(c)
    return out + remaining


def explore(ranked: list[Candidate], k: int, share: float, seed: str) -> list[Candidate]:
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


def intra_list_diversity(item_ids: Sequence[str], genres: Mapping[str, Sequence[str]]) -> float | None:
    """1 - mean pairwise Jaccard similarity of the items' genre sets (None below two items)."""
    sets = [set(genres.get(i, ())) for i in item_ids]
    pairs = list(itertools.combinations(sets, 2))
    if not pairs:
        return None
    sims = [len(a & b) / len(a | b) if a | b else 1.0 for a, b in pairs]
    return 1.0 - float(np.mean(sims))
