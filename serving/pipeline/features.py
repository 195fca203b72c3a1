"""The features stage: model inputs for the user and every candidate, from memory only.

Item-side batch features come from the in-memory ``ItemFeatures`` matrix (no store access);
the user's come from the ``UserState`` the load step fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lambdarec_contracts.ranker_features import (
    ITEM_ACTIVITY_COLUMNS,
    genre_affinity,
    genre_share,
    ranker_matrix,
)

from ..bundle import Bundle
from .candidates import Candidates
from .history import UserHistory
from .item_features import ItemFeatures


@dataclass(frozen=True)
class CandidateFeatures:
    user_vector: np.ndarray  # float32 [FU]
    item_matrix: np.ndarray  # float32 [n, FI], rows aligned with the candidates
    item_present: np.ndarray  # bool [n]: the item had batch features
    query_embedding: np.ndarray | None
    two_tower_score: np.ndarray  # float64 [n]: q . e for every candidate (NaN without a query)
    # The served-candidate ranker's input (lambdarec_contracts.ranker_features); None: legacy bundle.
    ranker_matrix: np.ndarray | None = None


def candidate_features(
    bundle: Bundle,
    item_features: ItemFeatures,
    user_vec: np.ndarray,
    query_embedding: np.ndarray | None,
    cands: Candidates,
    history: UserHistory,
) -> CandidateFeatures:
    idx = cands.item_idx
    if query_embedding is None:
        tt = np.full(len(idx), np.nan)
    else:
        emb = bundle.item_embeddings[bundle.embedding_rows[idx]]
        tt = (emb @ np.asarray(query_embedding, np.float32)).astype(np.float64)
    rows = item_features.matrix[idx]
    return CandidateFeatures(
        user_vec,
        rows,
        item_features.present[idx],
        query_embedding,
        tt,
        _ranker_matrix(bundle, cands, history, tt, rows),
    )


def _ranker_matrix(
    bundle: Bundle, cands: Candidates, h: UserHistory, tt: np.ndarray, item_rows: np.ndarray
) -> np.ndarray | None:
    cf = bundle.collaborative
    if cf is None:
        return None
    idx = cands.item_idx
    zeros = np.zeros(len(idx), np.float32)
    ranks = {g: cands.gen_ranks[:, j] for j, g in enumerate(cands.generators)}
    return ranker_matrix(
        item_cf_score=h.item_cf[idx] if h.item_cf is not None else zeros,
        user_best_item_cf=h.best_item_cf,
        item_knn_score=h.item_knn[idx] if h.item_knn is not None else zeros,
        two_tower_score=np.nan_to_num(tt, nan=0.0),
        popularity=cf.popularity[idx],
        popularity_percentile=cf.popularity_pct[idx],
        history_len=len(h.idx),
        genre_fit=genre_affinity(genre_share(bundle.genre_matrix[h.idx]), bundle.genre_matrix[idx]),
        recent_activity=item_rows[:, ITEM_ACTIVITY_COLUMNS],
        generator_ranks=ranks,
    )
