"""The explain stage: the served page as response items (title, source, reason)."""

from __future__ import annotations

from ..bundle import Bundle
from ..schemas import RecommendedItem
from .candidates import Candidates


def explain(bundle: Bundle, page: Candidates) -> list[RecommendedItem]:
    return [
        RecommendedItem(
            item_id=bundle.item_ids[p],
            score=round(float(s), 6),
            source=page.source(j),
            reason=page.reason(j),
            title=bundle.titles[p],
        )
        for j, (p, s) in enumerate(zip(page.item_idx.tolist(), page.score.tolist(), strict=True))
    ]
