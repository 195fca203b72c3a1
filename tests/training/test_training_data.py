"""Split, vocabularies, histories and the evaluation set on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lambdarec_contracts.feature_vectors import USER_VECTOR_NAMES
from training.data import build_eval_set, build_vocab, cutoff_of, history_arrays
from training.train import TrainConfig, parse_value_weights


def test_cutoff_is_ds_plus_one_minus_eval_days() -> None:
    assert cutoff_of("2024-03-31", 14) == pd.Timestamp("2024-03-18", tz="UTC")


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


def _ts(day: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=day)


def test_eval_set_excludes_items_seen_before_the_cutoff() -> None:
    inter = pd.DataFrame(
        [
            ("u1", "a", _ts(1), True),
            ("u1", "b", _ts(2), False),
            ("u1", "a", _ts(11), True),  # re-watch of a seen item: not a held-out target
            ("u1", "c", _ts(12), True),
            ("u1", "d", _ts(13), False),  # not positive
            ("u2", "c", _ts(11), True),  # new user: empty history
            ("u3", "a", _ts(3), True),  # nothing after the cut-off
            ("u4", "e", _ts(30), True),  # after the end
        ],
        columns=["user_id", "item_id", "event_ts", "is_positive"],
    )
    ts = pd.DataFrame(
        {
            "user_id": ["u1", "u1"],
            "item_id": ["a", "b"],
            "event_timestamp": [_ts(1), _ts(2)],
            "user_stats__n_interactions_total": [0, 1],
        }
    )
    es = build_eval_set(inter, ts, _ts(10), _ts(20), 5, list(USER_VECTOR_NAMES))
    assert es.user_ids == ["u1", "u2"]
    assert es.histories == [["b", "a"], []]
    assert es.heldout == [["c"], ["c"]]
    assert es.exclude == [["b", "a"], []]
    # u1's features are its last row before the cut-off (1 interaction -> log1p(1)); u2 has none.
    assert es.user_features[
        0, USER_VECTOR_NAMES.index("user_stats__log_n_interactions_total")
    ] == pytest.approx(np.log1p(1))
    assert not es.user_features[1].any()
    back = type(es).from_frame(es.to_frame(), es.feature_names)
    assert back.heldout == es.heldout and np.array_equal(back.user_features, es.user_features)


def test_value_weights_flag() -> None:
    assert parse_value_weights("rating=0.3, p_positive=0.7") == {"rating": 0.3, "p_positive": 0.7}
    with pytest.raises(ValueError, match="ranker heads"):
        TrainConfig(ds="2024-01-01", value_weights={"clicks": 1.0})
