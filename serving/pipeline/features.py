"""The features stage: model inputs for the user and every candidate, from memory only.

Item-side batch features come from the in-memory ``ItemFeatures`` matrix (no store access);
the user's come from the ``UserState`` the load step fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bundle import Bundle
from .candidates import Candidates
from .item_features import ItemFeatures


@dataclass(frozen=True)
class CandidateFeatures:
    user_vector: np.ndarray  # float32 [FU]
    item_matrix: np.ndarray  # float32 [n, FI], rows aligned with the candidates
    item_present: np.ndarray  # bool [n]: the item had batch features
    query_embedding: np.ndarray | None
    two_tower_score: np.ndarray  # float64 [n]: q . e for every candidate (NaN without a query)


def candidate_features(
    bundle: Bundle,
    item_features: ItemFeatures,
    user_vec: np.ndarray,
    query_embedding: np.ndarray | None,
    cands: Candidates,
) -> CandidateFeatures:
    idx = cands.item_idx
    if query_embedding is None:
        tt = np.full(len(idx), np.nan)
    else:
        emb = bundle.item_embeddings[bundle.embedding_rows[idx]]
        tt = (emb @ np.asarray(query_embedding, np.float32)).astype(np.float64)
    return CandidateFeatures(
        user_vec, item_features.matrix[idx], item_features.present[idx], query_embedding, tt
    )
