"""The shared feature transform: hand-computed vectors for known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lambdarec_contracts.feature_vectors import (
    ITEM_VECTOR_NAMES,
    USER_VECTOR_NAMES,
    genre_affinity_slots,
    genre_multi_hot,
    item_vector,
    user_matrix,
    user_vector,
)
from lambdarec_contracts.tables import GENRES


def test_user_vector_values() -> None:
    affinity = [0.0] * len(GENRES)
    affinity[GENRES.index("Comedy")] = 0.75
    affinity[GENRES.index("Drama")] = 0.25
    v = user_vector(
        {
            "user_stats__n_interactions_7d": 3,
            "user_stats__n_interactions_30d": None,  # missing -> 0
            "user_stats__n_interactions_total": 99,
            "user_stats__rating_mean": 4.0,
            "user_stats__rating_std": float("nan"),  # NaN -> 0
            "user_stats__genre_affinity": affinity,
            "user_realtime__rt_n_events_1h": 7,  # not a model input (no offline history)
        }
    )
    assert v.dtype == np.float32 and v.shape == (len(USER_VECTOR_NAMES),)
    assert v[:5] == pytest.approx([math.log(4), 0.0, math.log(100), 0.8, 0.0])
    assert v[5 + GENRES.index("Comedy")] == pytest.approx(0.75)
    assert v[5:].sum() == pytest.approx(1.0)


def test_user_matrix_is_user_vector_of_every_row() -> None:
    rng = np.random.default_rng(3)
    n = 200
    counts = rng.integers(0, 500, n).astype(float)
    counts[::7] = np.nan  # null
    mean = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(1, 5, n))
    affinity = [
        None
        if k % 5 == 0
        else [float("nan")] * len(GENRES)
        if k % 11 == 0
        else rng.random(len(GENRES)).tolist()
        for k in range(n)
    ]
    affinity[3] = [0.5, 0.5]  # the wrong length counts as none
    columns = {
        "user_stats__n_interactions_7d": counts,
        "user_stats__n_interactions_total": counts * 3,
        "user_stats__rating_mean": mean,
        "user_stats__rating_std": -mean,
    }  # n_interactions_30d absent -> 0
    m = user_matrix(columns, np.stack([genre_affinity_slots(a) for a in affinity]))
    expected = np.stack(
        [
            user_vector(
                {**{k: (None if np.isnan(v[r]) else v[r]) for k, v in columns.items()},
                 "user_stats__genre_affinity": affinity[r]}
            )
            for r in range(n)
        ]
    )  # fmt: skip
    assert m.dtype == np.float32 and m.shape == expected.shape
    np.testing.assert_array_equal(m, expected)


def test_item_vector_values_and_unknowns() -> None:
    v = item_vector(
        {
            "item_stats__n_interactions_7d": 0,
            "item_stats__n_interactions_30d": math.e - 1,
            "item_stats__rating_mean": 2.5,
            "item_stats__bayes_rating": 3.0,
            "item_stats__trending_score": 42.0,  # clipped to 10 -> 1.0
            "item_stats__year": 1995,
            "item_stats__genres": np.array(["Children", "Nonsense"]),  # canonical + unknown, as numpy
        }
    )
    assert v.shape == (len(ITEM_VECTOR_NAMES),)
    assert v[:7] == pytest.approx([0.0, 1.0, 0.0, 0.5, 0.6, 1.0, 0.95])
    hot = {GENRES[i] for i in np.flatnonzero(v[7:])}
    assert hot == {"Children", "(other)"}
    assert item_vector({})[6] == 0.0  # unknown year is 0, not (0 - 1900) / 100


def test_genre_multi_hot_empty() -> None:
    assert genre_multi_hot(None).sum() == 0 and genre_multi_hot([]).sum() == 0
