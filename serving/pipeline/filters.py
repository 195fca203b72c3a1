"""Business rules on candidates: never serve what is unavailable, seen, unwanted or excluded."""

from __future__ import annotations

import numpy as np

from ..bundle import Bundle
from .candidates import Candidates
from .context import RecParams, UserState

# In this order; a dropped candidate counts under the first rule it breaks.
FILTERS = ("unavailable", "seen", "not_interested", "request_exclude", "request_exclude_genres")


def _mask(bundle: Bundle, ids: set[str] | frozenset[str], item_idx: np.ndarray) -> np.ndarray:
    return np.isin(item_idx, bundle.positions(ids)) if ids else np.zeros(len(item_idx), bool)


def apply_filters(
    bundle: Bundle,
    state: UserState,
    params: RecParams,
    cands: Candidates,
    record: dict[str, np.ndarray] | None = None,
) -> tuple[Candidates, dict[str, int]]:
    """Candidates that pass every rule, in order, and how many each rule dropped.

    ``record`` (an explained request): also gets the item positions each rule dropped.
    """
    idx = cands.item_idx
    checks = [
        ~bundle.available_mask[idx],
        # The user's whole interaction history (UserState.seen), unless the caller asked for it.
        _mask(bundle, set() if params.include_seen else state.seen, idx),
        _mask(bundle, state.not_interested, idx),
        _mask(bundle, params.exclude, idx),
    ]
    if params.exclude_genres:
        cols = [j for j, g in enumerate(bundle.genre_names) if g in params.exclude_genres]
        checks.append(bundle.genre_matrix[idx][:, cols].any(axis=1))
    dropped = np.zeros(len(idx), bool)
    drops: dict[str, int] = {}
    for name, hit in zip(FILTERS, checks, strict=False):
        new = hit & ~dropped
        if new.any():
            drops[name] = int(new.sum())
            if record is not None:
                record[name] = idx[new]
        dropped |= new
    return cands.take(~dropped), drops
