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
    idx_all = np.concatenate([p.item_idx for p in props]).astype(np.int64)
    gen_all = np.concatenate([np.full(len(p), g, np.int64) for g, p in enumerate(props)])
    rank_all = np.concatenate([np.arange(len(p), dtype=np.float64) for p in props])
    score_all = np.concatenate([np.asarray(p.scores, np.float64) for p in props])
    reason_all = np.concatenate(
        [o + np.asarray(r, np.int64) for o, r in zip(offsets, reason_parts, strict=True)]
    )
    prio_all = np.asarray([r.priority for r in reasons], np.int64)[reason_all]

    uniq, first, inverse = np.unique(idx_all, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # first-proposed order
    cand_of_uniq = np.empty(len(uniq), np.int64)
    cand_of_uniq[order] = np.arange(len(uniq))
    cand = cand_of_uniq[inverse.reshape(-1)]
    n = len(uniq)
    gen_scores = np.full((n, len(gens)), np.nan)
    gen_ranks = np.full((n, len(gens)), np.nan)
    gen_scores[cand, gen_all] = score_all
    gen_ranks[cand, gen_all] = rank_all
    # The shown reason: lowest priority, first proposed among equals.
    by = np.lexsort((np.arange(len(cand)), prio_all, cand))
    sorted_cand = cand[by]
    firsts = by[np.concatenate(([True], sorted_cand[1:] != sorted_cand[:-1]))]
    reason_idx = np.empty(n, np.int64)
    reason_idx[cand[firsts]] = reason_all[firsts]
    return Candidates(
        uniq[order], gens, gen_scores, gen_ranks, tuple(reasons), reason_idx, np.zeros(n, np.float64)
    )
