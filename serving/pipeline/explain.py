"""The explain stage: the served page as response items (title, source, reason), and, for an
explained request, the whole trace of the request as a JSON-ready document.

Positions and ranks in the trace are 1-based (the first item of a list is 1); positions count
from the start of the served order, so a page at ``offset`` starts at ``offset + 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lambdarec_contracts.ranker_features import RANKER_FEATURE_NAMES

from ..bundle import Bundle
from ..schemas import RecommendedItem
from .candidates import Candidates
from .trace import Trace, TraceDetail


def explain(bundle: Bundle, page: Candidates) -> list[RecommendedItem]:
    reasons = page.reasons
    return [
        RecommendedItem(
            item_id=bundle.item_ids[p],
            score=round(s, 6),
            source=source,
            reason=reasons[r].text,
            title=bundle.titles[p],
        )
        for p, s, source, r in zip(
            page.item_idx.tolist(), page.score.tolist(), page.sources(), page.reason_idx.tolist(), strict=True
        )
    ]


_STAGES = ("scored", "boosts", "diversity", "exploration", "final")


def num(x: float) -> float | None:
    """A JSON-safe number: rounded, None for NaN or infinity."""
    return round(float(x), 6) if math.isfinite(x) else None


def _scored(bundle: Bundle, d: TraceDetail) -> list[dict[str, Any]]:
    c: Candidates | None = d.scored
    if c is None:
        return []
    feats = d.features
    if feats is not None and feats.ranker_matrix is not None:
        names, matrix = RANKER_FEATURE_NAMES, feats.ranker_matrix
    elif feats is not None:
        names, matrix = ["two_tower_score"], feats.two_tower_score[:, None]
    else:
        names, matrix = [], np.zeros((len(c), 0))
    present = ~np.isnan(c.gen_scores)
    out = []
    for j in np.argsort(-c.score, kind="stable").tolist():
        out.append(
            {
                "item_id": bundle.item_ids[int(c.item_idx[j])],
                "score": num(c.score[j]),
                "heads": {h: num(v[j]) for h, v in d.heads.items()},
                "features": {n: num(v) for n, v in zip(names, matrix[j].tolist(), strict=True)},
                "sources": [g for g, p in zip(c.generators, present[j].tolist(), strict=True) if p],
            }
        )
    return out


def _moves(
    bundle: Bundle, c: Candidates, before: Sequence[int], after: Sequence[int]
) -> list[dict[str, Any]]:
    """Candidates whose position changed between two orders (candidate indices of ``c``)."""
    was = {cand: pos for pos, cand in enumerate(before)}
    return [
        {
            "item_id": bundle.item_ids[int(c.item_idx[cand])],
            "from_position": was[cand] + 1,
            "to_position": pos + 1,
        }
        for pos, cand in enumerate(after)
        if was.get(cand, pos) != pos
    ]


def trace_document(
    bundle: Bundle | None, trace: Trace, page: Candidates | None, offset: int
) -> dict[str, Any]:
    """The ``trace`` of an explained response (without a bundle or a page: the stages are empty)."""
    timings: dict[str, float] = {}
    for stage, s in trace.timings:
        timings[stage] = round(timings.get(stage, 0.0) + s * 1000.0, 3)
    d = trace.detail
    if bundle is None or page is None or d is None:  # nothing ran (no bundle)
        return {
            **dict.fromkeys(_STAGES, []),
            "generators": {},
            "filters": {},
            "timings_ms": timings,
            "degraded": list(trace.reasons),
        }
    ids = bundle.item_ids
    c = d.scored
    boosts = d.boosts if c is not None and d.boosts is not None else np.zeros(0)
    doc: dict[str, Any] = {
        "generators": {
            n: [
                {"item_id": ids[p], "rank": r + 1, "score": num(s)}
                for r, (p, s) in enumerate(zip(prop.item_idx.tolist(), prop.scores.tolist(), strict=True))
            ]
            for n, prop in d.generators.items()
        },
        "filters": {rule: [ids[p] for p in idx.tolist()] for rule, idx in d.filtered.items()},
        "scored": _scored(bundle, d),
        "boosts": [
            {"item_id": ids[int(c.item_idx[j])], "boost": num(boosts[j])}  # type: ignore[union-attr]
            for j in np.flatnonzero(boosts).tolist()
        ],
        "diversity": [] if c is None else _moves(bundle, c, d.before_diversity, d.after_diversity),
        "exploration": [] if c is None else _moves(bundle, c, d.after_diversity, d.after_exploration),
        "final": [
            {"item_id": ids[p], "position": offset + j + 1, "score": num(s)}
            for j, (p, s) in enumerate(zip(page.item_idx.tolist(), page.score.tolist(), strict=True))
        ],
        "timings_ms": timings,
        "degraded": list(trace.reasons),
    }
    return doc
