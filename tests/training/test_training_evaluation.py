"""Evaluation metrics on hand-made rankings, checked against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training import evaluation as ev
from training import item_cf


def test_ranking_metrics_exact_values() -> None:
    top = np.array([[1, 2, 3, 4], [4, 3, 2, 1]])
    heldout = [np.array([2, 5]), np.array([1])]
    counts = np.array([0, 4, 2, 1, 1, 0])  # users who interacted with item 0..5 in training
    m = ev.ranking_metrics(
        top, heldout, n_catalogue=5, item_user_counts=counts, n_train_users=4, ks=(1, 2, 4)
    )
    # user 0 hits item 2 at rank 2 (1 of 2 held out); user 1 hits item 1 at rank 4.
    assert m["recall@1"] == 0.0
    assert m["recall@2"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["recall@4"] == pytest.approx((0.5 + 1.0) / 2)
    ndcg_u0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg_u1 = (1 / math.log2(5)) / 1.0
    assert m["ndcg@10"] == pytest.approx((ndcg_u0 + ndcg_u1) / 2)
    assert m["hit_rate@10"] == 1.0
    assert m["coverage@10"] == pytest.approx(4 / 5)
    # -log2(p): item1 4/4 -> 0, item2 2/4 -> 1, item3 1/4 -> 2, item4 1/4 -> 2
    assert m["novelty@10"] == pytest.approx((0 + 1 + 2 + 2) / 4)
    assert m["n_eval_users"] == 2


def test_heldout_outside_catalogue_never_hits() -> None:
    top = np.array([[1, 2]])
    m = ev.ranking_metrics(top, [np.array([-1, 2])], 3, np.ones(4), 1, ks=(2,))
    assert m["recall@2"] == pytest.approx(0.5)
    assert m["hit_rate@10"] == 1.0


def test_recall_curve() -> None:
    top = np.array([[3, 1, 2], [1, 2, 3]])
    curve = ev.recall_curve(top, [np.array([1, 2]), np.array([3])])
    np.testing.assert_allclose(curve, [0.0, 0.25, 1.0])


def test_top_k_excludes_oov_and_seen_and_breaks_ties_by_index() -> None:
    scores = np.array([[9.0, 0.1, 0.5, 0.5, 0.3], [9.0, 0.5, 0.5, 0.7, 0.1]])
    top = ev.top_k_from_scores(scores, [np.array([3]), np.array([], dtype=np.int64)], 3)
    np.testing.assert_array_equal(top, [[2, 4, 1], [3, 1, 2]])


def test_top_k_equals_a_stable_sort_of_whole_rows_when_ties_straddle_the_cut() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 3, size=(40, 30)).astype(np.float64)  # many ties at every k
    scores[5] = 1.0  # a row of one value
    exclude = [rng.choice(30, rng.integers(0, 30), replace=False) for _ in range(40)]
    exclude[7] = np.arange(30)  # everything excluded: -inf ties, the lower index still first
    for k in (1, 4, 10, 29, 50):
        s = scores.copy()
        s[:, 0] = -np.inf
        for u, ex_u in enumerate(exclude):
            s[u, ex_u] = -np.inf
        want = np.argsort(-s, axis=1, kind="stable")[:, : min(k, 29)]
        np.testing.assert_array_equal(ev.top_k_from_scores(scores, exclude, k), want)


def test_rank_in_chunks_matches_one_shot() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(7, 6))
    exclude = [np.array([1]), np.array([], dtype=np.int64)] * 3 + [np.array([2, 3])]
    got = ev.rank_in_chunks(lambda rows: scores[rows], 7, exclude, 3, chunk=2)
    np.testing.assert_array_equal(got, ev.top_k_from_scores(scores, exclude, 3))


def test_auc_and_rmse() -> None:
    assert ev.auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert ev.auc(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)
    assert math.isnan(ev.auc(np.array([0.1, 0.2]), np.array([1, 1])))
    assert ev.rmse(np.array([1.0, 3.0]), np.array([2.0, 5.0])) == pytest.approx(math.sqrt((1 + 4) / 2))


def test_baselines() -> None:
    np.testing.assert_array_equal(ev.popularity_scores(np.array([1, 1, 3]), 5), [0, 2, 0, 1, 0])
    # u0: {1, 2}, u1: {1, 2, 3}, u2: {3}
    g = item_cf.gram(np.array([0, 0, 1, 1, 1, 2]), np.array([1, 2, 1, 2, 3, 3]), 3, 4)
    sim = g.copy()
    item_cf.cosine_in_place(sim)
    assert sim[1, 2] == pytest.approx(2 / math.sqrt(2 * 2))
    assert sim[1, 3] == pytest.approx(1 / math.sqrt(2 * 2))
    assert sim[2, 3] == pytest.approx(0.5)
    assert sim[1, 1] == 0.0 and sim[0].sum() == 0.0


def test_no_eval_users_is_an_error() -> None:
    with pytest.raises(ValueError, match="no evaluation users"):
        ev.ranking_metrics(np.zeros((0, 3), np.int64), [], 3, np.ones(4), 1)


def test_evaluation_module_does_not_import_tensorflow() -> None:
    import subprocess
    import sys

    code = "import sys, training.evaluation, training.bundle_eval, training.publish, training.item_cf, training.split; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_value_score() -> None:
    heads = {"rating": np.array([[5.0], [2.5], [4.0]]), "p_interaction": np.array([[0.2], [0.9], [0.9]])}
    score = ev.value_score(heads, {"rating": 0.5, "p_interaction": 0.5})
    np.testing.assert_allclose(score, [0.5 * 1.0 + 0.1, 0.5 * 0.5 + 0.45, 0.5 * 0.8 + 0.45])
