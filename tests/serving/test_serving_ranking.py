"""Pure pipeline pieces on hand-made cases: merge, value model, boosts, diversity, exploration."""

from __future__ import annotations

import numpy as np
import pytest

from serving.pipeline.candidates import Proposal, Reason, first_occurrences, merge
from serving.pipeline.rank import (
    apply_boosts,
    diversify,
    explore,
    intra_list_diversity,
    intra_list_diversity_bits,
)
from serving.pipeline.score import value_model


def test_diversity_at_most_two_per_genre_in_top_five():
    genres = {
        0: ["Action"],
        1: ["Action"],
        2: ["Action", "Comedy"],
        3: ["Comedy"],
        4: ["Comedy"],
        5: ["Drama"],
        6: ["Action"],
        7: ["Drama"],
    }
    out = diversify(list(range(8)), genres, max_per_genre=2, window=5)
    # 0, 1 fill Action; 2 (Action) skipped; 3, 4 fill Comedy; 5 Drama; then the rest in order.
    assert out == [0, 1, 3, 4, 5, 2, 6, 7]


def test_diversity_relaxes_when_nothing_fits_and_window_zero_is_identity():
    genres = {i: ["Action"] for i in range(4)}
    assert diversify([0, 1, 2, 3], genres, 1, 3) == [0, 1, 2, 3]
    assert diversify([3, 2, 1, 0], genres, 1, 0) == [3, 2, 1, 0]


def test_value_model_normalises_rating_heads():
    heads = {"rating": np.array([5.0, 2.5], np.float32), "p_positive": np.array([0.2, 0.9], np.float32)}
    got = value_model(heads, {"rating": 0.5, "p_positive": 1.0}, 2)
    assert got.tolist() == pytest.approx([0.5 * 1.0 + 0.2, 0.5 * 0.5 + 0.9])


def prop(idx: list[int], reasons: list[tuple[str, int]], which: list[int] | None = None) -> Proposal:
    return Proposal(
        np.asarray(idx, np.int64),
        1.0 / (1.0 + np.arange(len(idx))),
        tuple(Reason(t, p) for t, p in reasons),
        None if which is None else np.asarray(which, np.int64),
    )


def test_merge_keeps_first_seen_order_sources_ranks_and_best_reason():
    a = prop([10, 11], [("Picked", 2)])
    b = prop([12, 11, 13], [("Because you liked Heat", 0), ("Because you liked Up", 0)], [1, 0, 1])
    c = prop([13, 14], [("Pop", 4)])
    out = merge([("two_tower", a), ("because_you_liked", b), ("popular", c)])
    assert out.item_idx.tolist() == [10, 11, 12, 13, 14]
    assert [out.source(j) for j in range(5)] == [
        "two_tower",
        "two_tower+because_you_liked",
        "because_you_liked",
        "because_you_liked+popular",
        "popular",
    ]
    assert out.sources() == [out.source(j) for j in range(5)]
    # 11: two_tower said "Picked" first, but because_you_liked's reason has the better priority.
    assert [out.reason(j) for j in range(5)] == [
        "Picked",
        "Because you liked Heat",
        "Because you liked Up",
        "Because you liked Up",
        "Pop",
    ]
    # Per-generator ranks stay available for rankers; NaN where a generator did not propose.
    np.testing.assert_array_equal(out.gen_ranks[:, 1], [np.nan, 1, 0, 2, np.nan])
    np.testing.assert_array_equal(out.gen_ranks[:, 2], [np.nan, np.nan, np.nan, 0, 1])
    assert out.gen_scores[1, 0] == 0.5 and np.isnan(out.gen_scores[0, 2])
    assert len(merge([])) == 0 and len(merge([("x", Proposal.empty())])) == 0


def test_first_occurrences():
    assert first_occurrences(np.array([7, 3, 7, 0, 3, 9, 0])).tolist() == [0, 1, 3, 5]
    assert first_occurrences(np.zeros(0, np.int64)).tolist() == []
    assert first_occurrences(np.array([4, 4, 4])).tolist() == [0]


def test_equal_priorities_keep_the_first_proposed_reason_and_boosts_add_per_source():
    out = merge([("a", prop([1], [("first", 3)])), ("b", prop([1, 2], [("second", 3)]))])
    assert out.reason(0) == "first"
    boosted = apply_boosts(out.with_score(np.array([1.0, 1.0])), {"a": 0.25, "b": 0.5})
    assert boosted.score.tolist() == [1.75, 1.5]


def test_exploration_is_seeded_and_bounded():
    ranked = list(range(30))
    one = explore(ranked, 10, 0.2, "u1:0")
    assert one == explore(ranked, 10, 0.2, "u1:0")
    assert one != explore(ranked, 10, 0.2, "u1:1")  # a new generation explores differently
    top = one[:10]
    assert one[0] == 0  # the best item is never displaced
    assert sum(i >= 10 for i in top) == 2  # int(10 * 0.2) slots explored
    assert sorted(one) == ranked
    assert explore(ranked, 10, 0.0, "u1:0") == ranked


def test_intra_list_diversity_by_hand():
    # pairs: a-b 1/2, a-c 0, b-c 0 -> mean 1/6 -> diversity 5/6
    assert intra_list_diversity([["Action"], ["Action", "Comedy"], ["Drama"]]) == pytest.approx(5 / 6)
    assert intra_list_diversity([["Action"]]) is None
    assert intra_list_diversity([[], [], ["Drama"]]) == pytest.approx(1 - 1 / 3)  # two empty sets: 1
    assert intra_list_diversity([["Action", "Crime"]] * 4) == 0.0


def test_intra_list_diversity_of_bit_masks_equals_the_sets():
    # bit 0 Action, bit 1 Comedy, bit 2 Drama (Bundle.genre_bits' encoding)
    assert intra_list_diversity_bits([0b001, 0b011, 0b100]) == intra_list_diversity(
        [["Action"], ["Action", "Comedy"], ["Drama"]]
    )
    assert intra_list_diversity_bits([0, 0, 0b100]) == pytest.approx(1 - 1 / 3)  # two empty sets: 1
    assert intra_list_diversity_bits([0b101]) is None
    assert intra_list_diversity_bits([0b11] * 4) == 0.0
