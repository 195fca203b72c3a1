"""Vocabularies, histories and the run configuration on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.config import TrainConfig, parse_value_weights
from training.data import build_vocab, history_arrays


def test_vocab_orders_trained_by_frequency_then_catalogue() -> None:
    v = build_vocab(["b", "a", "b", "c", "a", "b"], extra_ids=["z", "a", "y"])
    assert v.ids == ["[OOV]", "b", "a", "c", "y", "z"]
    assert v.n_trained == 3
    np.testing.assert_array_equal(v.lookup(["a", "nope", "z"]), [2, 0, 5])


def test_vocab_lookup_of_a_column_is_the_per_id_lookup() -> None:
    # A pandas column of repeated ids (Arrow strings, object strings, ints, a null), a numpy
    # array, an iterator and nothing: each id maps as the vocabulary's dict says, unknown and
    # null ids to 0.
    v = build_vocab(pd.Series(["7", "a", "7", "b"], dtype="str"), extra_ids=[12, "q"])
    ids = ["a", "7", "zz", "a", "12", "[OOV]", "q", "7"]
    want = [v.index.get(x, 0) for x in ids]
    assert v.ids[:3] == ["[OOV]", "7", "a"] and v.index["12"] > 0 and 0 not in want[:2]
    for column in (
        pd.Series(ids, dtype="str"),
        pd.Series(ids, dtype=object),
        np.array(ids, dtype=object),
        iter(ids),
    ):
        np.testing.assert_array_equal(v.lookup(column), want)
    np.testing.assert_array_equal(v.lookup(pd.Series([12, 7, 5])), [v.index["12"], v.index["7"], 0])
    np.testing.assert_array_equal(
        v.lookup(pd.Series(["a", None, "b"], dtype="str")), [v.index["a"], 0, v.index["b"]]
    )
    np.testing.assert_array_equal(
        v.lookup(pd.Series(["a", "b"], dtype="str").array[np.array([False, True])]), [v.index["b"]]
    )
    assert v.lookup([]).tolist() == [] and v.lookup(pd.Series([], dtype="str")).dtype == np.int64


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
