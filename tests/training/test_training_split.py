"""The per-user temporal hold-out and the served-like ranker examples, on hand-made logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lambdarec_contracts.item_cf import SparseNeighbours
from lambdarec_contracts.ranker_features import RANKER_FEATURE_NAMES
from training.ranker_data import CandidateModels, served_like_examples, user_candidates
from training.split import per_user_split


def _log(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"user_id": u, "item_id": i, "event_ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=h),
             "event_type": t, "rating": 4.0}
            for u, i, h, t in rows
        ]
    )  # fmt: skip


def test_per_user_split_holds_out_each_users_last_interactions() -> None:
    u1 = [("u1", f"i{k}", 10 - k, "rating") for k in range(10)]  # i9 is the oldest, i0 the newest
    u2 = [("u2", "a", 1, "rating"), ("u2", "b", 2, "rating"), ("u2", "c", 3, "rating")]  # too few
    u3 = [("u3", x, h, "rating") for h, x in enumerate(["a", "b", "c", "d", "a"])]  # re-watch of "a"
    u4 = [("u4", x, h, "rating") for h, x in enumerate(["a", "b", "c", "d"])] + [
        ("u4", "e", 9, "not_interested")
    ]
    s = per_user_split(_log(u1 + u2 + u3 + u4), frac=0.2, min_interactions=4)
    held = s.heldout.groupby("user_id")["item_id"].apply(sorted).to_dict()
    assert held == {"u1": ["i0", "i1"]}  # u2: too few; u3: only a re-interaction; u4: negative only
    assert set(s.train[s.train["user_id"] == "u1"]["item_id"]) == {f"i{k}" for k in range(2, 10)}
    assert len(s.train[s.train["user_id"] == "u2"]) == 3
    assert s.cut_ts["u1"] == pd.Timestamp("2024-01-01 09:00", tz="UTC")
    assert s.eval_users == ["u1"]
    with pytest.raises(ValueError, match="hold-out fraction"):
        per_user_split(_log(u1), frac=1.0)


def _models() -> CandidateModels:
    # 6 items (0 = OOV). item_cf: 1 -> {2: 0.9, 3: 0.5}, 4 -> {5: 0.8}.
    cf = SparseNeighbours(
        np.array([0, 0, 2, 2, 2, 3, 3]), np.array([2, 3, 5], np.int32), np.array([0.9, 0.5, 0.8], np.float32)
    )
    pop = np.array([0, 50, 40, 30, 20, 10], np.float64)
    return CandidateModels(cf, cf, pop, np.array([0, 1, 0.8, 0.6, 0.4, 0.2], np.float32))


def test_user_candidates_exclude_the_history_and_rank_like_serving() -> None:
    uc = user_candidates(_models(), np.array([1]), None, None, n_per_generator=2)
    assert 1 not in uc.item_idx.tolist()  # the history is filtered, as serving filters it
    f = {n: uc.features[:, j] for j, n in enumerate(RANKER_FEATURE_NAMES)}
    row = {int(i): k for k, i in enumerate(uc.item_idx)}
    assert set(row) == {2, 3}  # item_cf top-2 {2, 3}; popular top-2 outside the history {2, 3}
    assert f["item_cf_score"][row[2]] == pytest.approx(0.9) and f["item_cf_rrank"][row[2]] == 1.0
    assert f["item_cf_score_share"][row[3]] == pytest.approx(0.5 / 0.9)
    assert f["item_cf_rrank"][row[3]] == pytest.approx(0.5)
    assert f["two_tower_rrank"][row[2]] == 0.0  # no two-tower model: not proposed
    assert f["log_history_len"][0] == pytest.approx(np.log1p(1))


def test_served_like_examples_label_what_came_next() -> None:
    ex = served_like_examples(
        _models(),
        histories=[np.array([1]), np.array([4]), np.array([2])],
        targets=[{3: 5.0}, {}, {9: float("nan")}],  # user 1: no targets -> no examples; item 9 unknown
        queries=None,
        item_emb=None,
        n_per_generator=2,
    )
    assert sorted(set(ex.group.tolist())) == [0, 2]
    u0 = ex.group == 0
    assert ex.label[u0, 0].sum() == 1.0 and ex.rating[u0 & (ex.label[:, 0] == 1), 0].tolist() == [5.0]
    assert ex.has_rating[ex.label[:, 0] == 0].sum() == 0
    assert ex.candidate_recall == pytest.approx(0.5)  # item 3 was offered, item 9 could not be


def test_ranker_members_bag_whole_users_when_the_examples_exceed_the_cap() -> None:
    from training.ranker_data import Examples
    from training.ranker_fit import _bag

    group = np.repeat(np.arange(10), 30)  # 10 users x 30 candidates
    z = np.zeros((len(group), 1), np.float32)
    ex = Examples(np.zeros((len(group), 3), np.float32), z, z, z, group, 1.0)
    rows = np.flatnonzero(group != 9)  # user 9 validates
    assert _bag(ex, rows, 1000, seed=0).tolist() == rows.tolist()  # fits: everything
    a, b = _bag(ex, rows, 100, seed=0), _bag(ex, rows, 100, seed=1)
    for bag in (a, b):
        users = np.unique(group[bag])
        assert len(bag) == 90 and len(users) == 3 and 9 not in users  # whole users, at most the cap
        assert sorted(bag.tolist()) == sorted(np.flatnonzero(np.isin(group, users)).tolist())
    assert set(group[a]) != set(group[b])  # each member draws its own sample


def test_ranker_examples_come_from_a_seeded_sample_of_users_above_the_cap() -> None:
    from training.ranker_fit import _sample_users

    users = [f"u{n:02d}" for n in range(20)]
    assert _sample_users(users, 20, seed=1) == users  # at the cap: everyone, in order
    a, again, other = (_sample_users(users, 5, seed=s) for s in (1, 1, 2))
    assert len(a) == len(set(a)) == 5 and set(a) <= set(users)
    assert a == sorted(a)  # the split's order is kept
    assert a == again and a != other  # seeded: the same run samples the same users


def test_ranker_validation_measure_is_recall_plus_ndcg_at_10_per_user() -> None:
    from training.ranker_data import Examples
    from training.ranker_fit import _served_quality

    # User 0: 12 candidates, positives at rows 0 and 5; user 1: no positive (skipped); user 2: 3
    # candidates, one positive ranked second.
    group = np.array([0] * 12 + [1] * 4 + [2] * 3)
    label = np.zeros((len(group), 1), np.float32)
    label[[0, 5, 17], 0] = 1.0
    ex = Examples(np.zeros((len(group), 2), np.float32), label, label, label, group, 1.0)
    score = np.zeros(len(group))
    score[:12] = np.arange(12)[::-1]  # user 0: row 0 first ... row 11 last -> positives at ranks 1 and 6
    score[16:] = [3.0, 2.0, 1.0]  # user 2: its positive (row 17) at rank 2
    rows = np.arange(len(group))
    d = 1.0 / np.log2(np.arange(2, 12))
    recall = (2 / 2 + 1 / 1) / 2
    ndcg = ((d[0] + d[5]) / (d[0] + d[1]) + d[1] / d[0]) / 2
    assert _served_quality(score, ex, rows) == pytest.approx(recall + ndcg)
    score[0] = -1.0  # user 0's first positive drops to the last rank (12th): outside the top 10
    assert _served_quality(score, ex, rows) == pytest.approx(
        (1 / 2 + 1) / 2 + (d[4] / (d[0] + d[1]) + d[1] / d[0]) / 2
    )
    assert np.isnan(_served_quality(score, ex, np.arange(12, 16)))  # only a user without positives
    # Ties keep the rows' order (as a stable sort would): all-equal scores rank rows 0..11 in order.
    assert _served_quality(np.zeros(len(group)), ex, np.arange(12)) == pytest.approx(
        1.0 + (d[0] + d[5]) / (d[0] + d[1])
    )
