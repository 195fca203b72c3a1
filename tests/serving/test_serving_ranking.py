"""Pure ranking functions on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from serving.ranking import (
    Candidate,
    diversify,
    explore,
    intra_list_diversity,
    merge_candidates,
    sort_by_score,
    value_model,
)


def cands(*ids: str) -> list[Candidate]:
    return [Candidate(i, ["g"], "", 0.0, score=1.0 - n / 100) for n, i in enumerate(ids)]


def test_diversity_at_most_two_per_genre_in_top_five():
    genres = {
        "a": ["Action"],
        "b": ["Action"],
        "c": ["Action", "Comedy"],
        "d": ["Comedy"],
        "e": ["Comedy"],
        "f": ["Drama"],
        "g": ["Action"],
        "h": ["Drama"],
    }
    out = diversify(cands("a", "b", "c", "d", "e", "f", "g", "h"), genres, max_per_genre=2, window=5)
    # a, b fill Action; c (Action) skipped; d, e fill Comedy; f Drama; then the rest in order.
    assert [c.item_id for c in out] == ["a", "b", "d", "e", "f", "c", "g", "h"]


def test_diversity_relaxes_when_nothing_fits_and_window_zero_is_identity():
    genres = {i: ["Action"] for i in "abcd"}
    ranked = cands("a", "b", "c", "d")
    assert [c.item_id for c in diversify(ranked, genres, 1, 3)] == ["a", "b", "c", "d"]
    assert [c.item_id for c in diversify(ranked, genres, 1, 0)] == ["a", "b", "c", "d"]


def test_value_model_normalises_rating_heads():
    heads = {"rating": np.array([5.0, 2.5], np.float32), "p_positive": np.array([0.2, 0.9], np.float32)}
    got = value_model(heads, {"rating": 0.5, "p_positive": 1.0}, 2)
    assert got.tolist() == pytest.approx([0.5 * 1.0 + 0.2, 0.5 * 0.5 + 0.9])


def test_merge_keeps_first_seen_order_accumulates_sources_and_best_reason():
    a = [
        Candidate("x", ["two_tower"], "Picked", priority=2),
        Candidate("y", ["two_tower"], "Picked", priority=2),
    ]
    b = [
        Candidate("y", ["because_you_liked"], "Because you liked Heat", priority=0),
        Candidate("z", ["popular"], "Pop", priority=4),
    ]
    out = merge_candidates([a, b])
    assert [(c.item_id, c.source, c.reason) for c in out] == [
        ("x", "two_tower", "Picked"),
        ("y", "two_tower+because_you_liked", "Because you liked Heat"),
        ("z", "popular", "Pop"),
    ]


def test_sort_is_stable_on_ties():
    cs = [Candidate("b", score=1.0), Candidate("a", score=1.0), Candidate("c", score=2.0)]
    assert [c.item_id for c in sort_by_score(cs)] == ["c", "b", "a"]


def test_exploration_is_seeded_and_bounded():
    ranked = cands(*[f"i{n}" for n in range(30)])
    one = [c.item_id for c in explore(ranked, 10, 0.2, "u1:0")]
    two = [c.item_id for c in explore(ranked, 10, 0.2, "u1:0")]
    assert one == two
    top = one[:10]
    assert one[0] == "i0"  # the best item is never displaced
    assert sum(int(i[1:]) >= 10 for i in top) == 2  # int(10 * 0.2) slots explored
    assert sorted(one) == sorted(c.item_id for c in ranked)
    assert [c.item_id for c in explore(ranked, 10, 0.0, "u1:0")] == [c.item_id for c in ranked]


def test_intra_list_diversity_by_hand():
    genres = {"a": ["Action"], "b": ["Action", "Comedy"], "c": ["Drama"]}
    # pairs: a-b 1/2, a-c 0, b-c 0 -> mean 1/6 -> diversity 5/6
    assert intra_list_diversity(["a", "b", "c"], genres) == pytest.approx(5 / 6)
    assert intra_list_diversity(["a"], genres) is None
