"""``GET /v1/items/{item_id}/similar``: neighbours of one catalogue item (no store needed)."""

from __future__ import annotations

from .bundle import Bundle
from .holder import BundleHolder
from .schemas import RecommendedItem


class SimilarItems:
    def __init__(self, holder: BundleHolder) -> None:
        self.holder = holder

    def similar(self, item_id: str, k: int) -> tuple[Bundle | None, list[RecommendedItem]]:
        """Collaborative neighbours, then text, then the nearest item embeddings."""
        bundle = self.holder.current
        if bundle is None:
            return None, []
        title = bundle.title(item_id) or item_id
        out: dict[str, RecommendedItem] = {}

        def add(nb: str, score: float, source: str) -> None:
            if nb != item_id and bundle.available(nb) and nb not in out:
                out[nb] = RecommendedItem(
                    item_id=nb,
                    score=round(score, 6),
                    source=source,
                    reason=f"Similar to {title}",
                    title=bundle.title(nb),
                )

        for source, table in (
            ("similar_collab", bundle.neighbours_collab),
            ("similar_text", bundle.neighbours_text),
        ):
            for nb, s in table.get(item_id, []):
                add(nb, s, source)
        if len(out) < k and item_id in bundle.item_index:
            vec = bundle.item_embeddings[bundle.item_index[item_id]]
            for row, s in bundle.index.search(vec, k + 2):
                if row != 0:
                    add(bundle.item_vocab[row], s, "similar_embedding")
        return bundle, list(out.values())[:k]
