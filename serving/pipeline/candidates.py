"""Candidates as arrays: what the generators propose and how their lists merge.

A generator returns a ``Proposal`` (item positions + scores, best first, and why); the merge is
vectorised and keeps every generator's score and rank per candidate (NaN where it did not
propose the item), so later stages and rankers can use them as features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Reason:
    text: str  # the sentence shown ("Because you liked Heat (1995)")
    priority: int  # when generators overlap, the reason with the lowest priority is shown


@dataclass(frozen=True)
class Proposal:
    """One generator's list: unique item positions, best first."""

    item_idx: np.ndarray  # int64 [n]
    scores: np.ndarray  # float64 [n]
    reasons: tuple[Reason, ...]
    reason_idx: np.ndarray | None = None  # int64 [n] into ``reasons``; None: reasons[0] for all

    @classmethod
    def empty(cls) -> Proposal:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float64), ())

    def __len__(self) -> int:
        return len(self.item_idx)


@dataclass(frozen=True)
class Candidates:
    """The merged candidate set, in first-proposed order until the rank stage reorders it."""

    item_idx: np.ndarray  # int64 [n] item positions in the bundle
    generators: tuple[str, ...]  # columns of gen_scores / gen_ranks, in merge (configured) order
    gen_scores: np.ndarray  # float64 [n, G]; NaN: generator g did not propose the item
    gen_ranks: np.ndarray  # float64 [n, G]; 0-based rank in generator g's list; NaN: absent
    reasons: tuple[Reason, ...]
    reason_idx: np.ndarray  # int64 [n] into reasons: the best-priority proposer's reason
    score: np.ndarray  # float64 [n]: set by the score stage

    def __len__(self) -> int:
        return len(self.item_idx)

    def take(self, sel: np.ndarray | slice) -> Candidates:
        """The candidates at ``sel`` (a boolean mask, an index array or a slice), in that order."""
        return replace(
            self,
            item_idx=self.item_idx[sel],
            gen_scores=self.gen_scores[sel],
            gen_ranks=self.gen_ranks[sel],
            reason_idx=self.reason_idx[sel],
            score=self.score[sel],
        )

    def with_score(self, score: np.ndarray) -> Candidates:
        return replace(self, score=np.asarray(score, np.float64))

    def source(self, j: int) -> str:
        """Generators that proposed candidate ``j``, '+'-joined in configured order."""
        present = ~np.isnan(self.gen_scores[j])
        return "+".join(g for g, p in zip(self.generators, present.tolist(), strict=True) if p)

    def sources(self) -> list[str]:
        """``source(j)`` of every candidate (one NaN test for all)."""
        gens = self.generators
        return [
            "+".join(g for g, p in zip(gens, row, strict=True) if p)
            for row in (~np.isnan(self.gen_scores)).tolist()
        ]

    def reason(self, j: int) -> str:
        return self.reasons[int(self.reason_idx[j])].text


def first_occurrences(idx: np.ndarray) -> np.ndarray:
    """Positions in ``idx`` (non-negative item positions) where an item appears for the first
    time, ascending. Dense scratch over the item range instead of sorting (``np.unique``)."""
    pos = np.arange(len(idx))
    if not len(idx):
        return pos
    first = np.full(int(idx.max()) + 1, len(idx), np.int64)
    np.minimum.at(first, idx, pos)
    return np.flatnonzero(first[idx] == pos)


def merge(named: Sequence[tuple[str, Proposal]]) -> Candidates:
    """Union of the generators' lists in first-proposed order (vectorised)."""
    gens = tuple(n for n, _ in named)
    props = [p for _, p in named]
    reasons: list[Reason] = []
    reason_parts, offsets = [], []
    for p in props:
        offsets.append(len(reasons))
        reasons.extend(p.reasons)
        reason_parts.append(p.reason_idx if p.reason_idx is not None else np.zeros(len(p), np.int64))
    if not props or sum(len(p) for p in props) == 0:
        z = np.zeros(0, np.int64)
        e = np.zeros((0, len(gens)), np.float64)
        return Candidates(z, gens, e, e.copy(), tuple(reasons), z.copy(), np.zeros(0, np.float64))
    lengths = [len(p) for p in props]
    idx_all = np.concatenate([p.item_idx for p in props]).astype(np.int64)
    n_all = len(idx_all)
    pos = np.arange(n_all)
    gen_all = np.repeat(np.arange(len(props)), lengths)
    rank_all = (pos - np.repeat(np.cumsum(lengths) - lengths, lengths)).astype(np.float64)
    score_all = np.concatenate([p.scores for p in props]).astype(np.float64)
    reason_all = np.repeat(offsets, lengths) + np.concatenate(reason_parts).astype(np.int64)
    prio_all = np.asarray([r.priority for r in reasons], np.int64)[reason_all]

    uniq = idx_all[first_occurrences(idx_all)]  # first-proposed order
    n = len(uniq)
    cand_of_item = np.empty(int(idx_all.max()) + 1, np.int64)  # item position -> candidate row
    cand_of_item[uniq] = np.arange(n)
    cand = cand_of_item[idx_all]
    gen_scores = np.full((n, len(gens)), np.nan)
    gen_ranks = np.full((n, len(gens)), np.nan)
    gen_scores[cand, gen_all] = score_all
    gen_ranks[cand, gen_all] = rank_all
    # The shown reason: lowest priority, first proposed among equals.
    best = np.full(n, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(best, cand, prio_all * n_all + pos)
    reason_idx = reason_all[best % n_all]
    return Candidates(uniq, gens, gen_scores, gen_ranks, tuple(reasons), reason_idx, np.zeros(n, np.float64))
