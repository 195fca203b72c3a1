"""The score stage: one function from candidates + features to one score per candidate.

Today: the bundle's ranker (ONNX, all candidates in one call) and the value model over its
heads; a cold user keeps the generators' order (an unknown user's ranker scores carry no signal).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from ..bundle import Bundle
from .candidates import Candidates
from .features import CandidateFeatures
from .trace import Trace

log = logging.getLogger(__name__)


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


def score_candidates(
    bundle: Bundle,
    cands: Candidates,
    feats: CandidateFeatures,
    weights: Mapping[str, float] | None,
    cold: bool,
    trace: Trace,
) -> Candidates:
    n = len(cands)
    if n and feats.ranker_matrix is not None and not cold:
        try:
            heads = bundle.score_features(feats.ranker_matrix)
            if trace.detail is not None:
                trace.detail.heads = heads
            return cands.with_score(value_model(heads, weights or bundle.manifest.value_model_weights, n))
        except Exception as e:  # a broken ranker must not fail the request
            log.warning("ranker failed: %s", e)
            trace.degrade("ranker_failed")
    elif n and feats.query_embedding is not None and not cold and not bundle.served_ranker:
        try:
            heads = bundle.score(feats.user_vector, feats.item_matrix, feats.query_embedding, cands.item_idx)
            if trace.detail is not None:
                trace.detail.heads = heads
            return cands.with_score(value_model(heads, weights or bundle.manifest.value_model_weights, n))
        except Exception as e:  # a broken ranker must not fail the request
            log.warning("ranker failed: %s", e)
            trace.degrade("ranker_failed")
    return cands.with_score(1.0 / (1.0 + np.arange(n)))  # keep the generators' order
