"""Item-side batch features as one dense matrix aligned with the bundle's item positions.

They change only when the batch layer materializes, so serving keeps them in memory (read from
Feast's online layout by ``serving/feature_sync.py``) instead of fetching 500 per request; a
replay builds them from any ``{item_id: {full feature name: value}}`` rows (e.g. the offline export).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lambdarec_contracts.feature_vectors import ITEM_VECTOR_NAMES, item_vector

from ..bundle import Bundle


@dataclass(frozen=True, eq=False)
class ItemFeatures:
    bundle_version: str
    version: str | None  # the materialization stamp they were read at (None: no stamp yet)
    matrix: np.ndarray  # float32 [U, len(ITEM_VECTOR_NAMES)]; zeros where an item has no features
    present: np.ndarray  # bool [U]: the item had at least one feature value

    @classmethod
    def empty(cls, bundle: Bundle, version: str | None = None) -> ItemFeatures:
        n = len(bundle.item_ids)
        return cls(
            bundle.version, version, np.zeros((n, len(ITEM_VECTOR_NAMES)), np.float32), np.zeros(n, bool)
        )

    @classmethod
    def from_rows(
        cls, bundle: Bundle, rows: Mapping[str, Mapping[str, Any]], version: str | None = None
    ) -> ItemFeatures:
        """``rows``: item id -> Feast full feature names -> raw value (missing items: zeros)."""
        out = cls.empty(bundle, version)
        for item_id, values in rows.items():
            p = bundle.position.get(item_id)
            if p is None or not any(v is not None for v in values.values()):
                continue
            out.matrix[p] = item_vector(values)
            out.present[p] = True
        return out
