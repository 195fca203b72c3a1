"""What the user's history says about every item, computed once per request for all stages.

The history is every item the user interacted with (the batch layer's full history and the
speed layer's additions, both in ``UserState.seen``, plus the fresh recent list), minus the
items they marked "not interested". The item-to-item generator and the ranker's inputs read
the scores computed here; nothing in it touches a store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bundle import Bundle
from .context import UserState


@dataclass(frozen=True)
class UserHistory:
    idx: np.ndarray  # int64 positions of the history items (unique)
    in_history: np.ndarray  # bool [U]
    item_cf: np.ndarray | None  # float32 [U]: Σ EASE weights from the history (None: legacy bundle)
    item_knn: np.ndarray | None  # float32 [U]: Σ item-kNN similarities
    best_item_cf: float  # the best item_cf score outside the history (scale of this user's scores)


def user_history(bundle: Bundle, state: UserState) -> UserHistory:
    ids = (state.seen | set(state.recent)) - state.not_interested
    idx = np.unique(bundle.positions(ids))
    mask = np.zeros(len(bundle.item_ids), bool)
    mask[idx] = True
    cf = bundle.collaborative
    if cf is None or not len(idx):
        return UserHistory(idx, mask, None, None, 0.0)
    s = cf.item_cf.scores(idx)
    outside = np.where(mask, -np.inf, s)
    outside[0] = -np.inf
    best = float(outside.max()) if len(outside) > 1 else 0.0
    return UserHistory(idx, mask, s, cf.item_knn.scores(idx), max(best, 0.0))
