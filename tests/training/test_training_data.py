"""Vocabularies, histories and the run configuration on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from training.config import TrainConfig, parse_value_weights
from training.data import build_vocab, history_arrays


def test_vocab_orders_trained_by_frequency_then_catalogue() -> None:
    v = build_vocab(["b", "a", "b", "c", "a", "b"], extra_ids=["z", "a", "y"])
    assert v.ids == ["[OOV]", "b", "a", "c", "y", "z"]
    assert v.n_trained == 3
    np.testing.assert_array_equal(v.lookup(["a", "nope", "z"]), [2, 0, 5])


def test_history_arrays_pad_mask_and_drop_the_target() -> None:
    v = build_vocab(["a", "b", "c"])
    idx, mask = history_arrays([["c", "x", "a", "b"], [], None], v, 3, drop=["a", "q", "q"])
    # row 0: target "a" removed -> c, x (unknown -> 0, masked), b
    np.testing.assert_array_equal(idx, [[v.index["c"], 0, v.index["b"]], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 0, 1], [0, 0, 0], [0, 0, 0]])


def test_value_weights_flag() -> None:
    assert parse_value_weights("rating=0.3, p_interaction=0.7") == {"rating": 0.3, "p_interaction": 0.7}
    assert TrainConfig(ds="2024-01-01", value_weights={"p_interaction": 1.0}).value_weights == {
        "p_interaction": 1.0
    }
    with pytest.raises(ValueError, match="ranker heads"):
        TrainConfig(ds="2024-01-01", value_weights={"clicks": 1.0})
