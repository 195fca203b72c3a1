"""The inputs of one request to the pure pipeline: user state, parameters, configuration.

``UserState`` is everything the store-bound load step (``serving/user_state.py``) fetched for
the user in its one round trip; the pipeline never talks to a store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lambdarec_contracts import features as fc
from lambdarec_contracts.tables import GENRES

from ..bundle import Bundle
from ..vector_index import MEMORY, VectorSearch
from .item_features import ItemFeatures


@dataclass
class UserState:
    """What the request knows about the user (empty for a cold or unreachable user)."""

    generation: int = 0  # bumped by each of the user's events (part of the cache key)
    # Every item the user interacted with: the batch layer's full history (one string per user)
    # and the speed layer's seen set, read in the same round trip. The seen filter reads only this.
    seen: set[str] = field(default_factory=set)
    not_interested: set[str] = field(default_factory=set)
    recent: list[str] = field(default_factory=list)  # from events, newest first
    features: dict[str, Any] = field(default_factory=dict)  # Feast full feature names (user + realtime)

    def feature(self, ref: str) -> Any:
        """The value of a contract feature reference (``view:feature``); None when absent."""
        return self.features.get(fc.ref_to_full_name(ref))

    @property
    def recent_positive(self) -> list[str]:
        """Anchors for "because you liked": fresh event history first, then batch features."""
        batch = self.feature(fc.USER_RECENT_POSITIVE_ITEMS) or []
        return list(dict.fromkeys([*self.recent, *batch]))

    @property
    def history(self) -> list[str]:
        rt = self.feature(fc.USER_RT_RECENT_ITEMS) or []
        batch = self.feature(fc.USER_RECENT_ITEMS) or []
        return list(dict.fromkeys([*self.recent, *rt, *batch]))

    @property
    def features_present(self) -> bool:
        return any(v is not None for v in self.features.values())

    def top_genres(self, n: int = 2) -> list[str]:
        aff = self.feature(fc.USER_GENRE_AFFINITY)
        if not aff or len(aff) != len(GENRES):
            return []
        order = np.argsort(-np.asarray(aff, dtype=np.float64), kind="stable")
        return [GENRES[i] for i in order[:n] if aff[i] and aff[i] > 0]


@dataclass(frozen=True)
class RecParams:
    """The caller's request parameters."""

    k: int = 10
    offset: int = 0
    exclude: frozenset[str] = frozenset()
    genres: tuple[str, ...] = ()
    exclude_genres: frozenset[str] = frozenset()
    include_seen: bool = False  # let items the user already interacted with through the filter


@dataclass(frozen=True)
class PipelineConfig:
    """Settings merged with the user's A/B variant (built by the app; replay builds its own)."""

    generators: tuple[str, ...] = ("item_cf", "two_tower", "because_you_liked", "trending", "popular")
    candidates_per_generator: int = 100
    liked_anchors: int = 5
    diversity_max_per_genre: int = 3
    diversity_window: int = 0
    exploration_share: float = 0.05
    source_boosts: Mapping[str, float] = field(default_factory=dict)
    value_model_weights: Mapping[str, float] | None = None  # None: the bundle manifest's
    generator_timeout_s: float = math.inf


def pipeline_config(s: Any, v: Any | None = None) -> PipelineConfig:
    """Serving settings (``ServingSettings``) merged with an A/B variant's overrides (None: no variant).

    The app builds each variant's config with it, and the offline replay builds the default one,
    so what is judged offline is configured exactly like what is served.
    """
    return PipelineConfig(
        generators=tuple((v.generators if v is not None else None) or s.generator_names),
        candidates_per_generator=s.candidates_per_generator,
        liked_anchors=s.liked_anchors,
        diversity_max_per_genre=(v.diversity_max_per_genre if v is not None else None)
        or s.diversity_max_per_genre,
        diversity_window=s.diversity_window
        if v is None or v.diversity_window is None
        else v.diversity_window,
        exploration_share=s.exploration_share
        if v is None or v.exploration_share is None
        else v.exploration_share,
        source_boosts=dict(s.source_boosts),
        value_model_weights=v.value_model_weights if v is not None else None,
        generator_timeout_s=s.generator_timeout_ms / 1000.0,
    )


@dataclass(frozen=True)
class TrendingWindow:
    """One trending window as item positions (available items only, best first) and its reason."""

    item_idx: np.ndarray
    scores: np.ndarray
    reason: str


def trending_window(bundle: Bundle, pairs: list[tuple[str, float]], reason: str) -> TrendingWindow:
    """``(item_id, count)`` pairs (a ZUNION of hour buckets) -> a window over ``bundle``."""
    pos = bundle.position
    kept = sorted(((i, s) for i, s in pairs if i in bundle.items), key=lambda p: (-p[1], p[0]))
    return TrendingWindow(
        np.asarray([pos[i] for i, _ in kept], np.int64), np.asarray([s for _, s in kept], np.float64), reason
    )


@dataclass(frozen=True)
class PipelineInput:
    """Everything one request's pure part needs."""

    bundle: Bundle
    item_features: ItemFeatures
    config: PipelineConfig
    params: RecParams
    user_id: str
    state: UserState
    # Trending windows in fallback order; None = the trending store could not be read.
    trending: tuple[TrendingWindow, ...] | None = ()
    deadline: float = math.inf  # time.thread_time() (CPU) after which generators are skipped
    vectors: VectorSearch = MEMORY  # where the generators find nearest vectors (LAMBDAREC_VECTOR_BACKEND)
