"""Towers (shapes, OOV and empty-history handling), the retrieval loss against a hand computation
and against TFRS's ``Retrieval`` task, and the two-tower train step against TFRS's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from training.data import ItemContent
from training.models import TwoTowerModel, retrieval_loss, retrieval_optimizer
from training.retrieval_data import history_order
from training.towers import CandidateTower, QueryTower, Ranker, RankerEnsemble


def _query_inputs(user_idx, hist, mask, n=None) -> dict[str, tf.Tensor]:  # noqa: ANN001
    n = len(user_idx)
    return {
        "user_idx": tf.constant(user_idx, tf.int64),
        "history_idx": tf.constant(hist, tf.int64),
        "history_mask": tf.constant(mask, tf.float32),
        "user_features": tf.constant(np.tile([[0.5, 1.0, 0.0]], (n, 1)), tf.float32),
    }


def test_query_tower_shape_oov_and_empty_history() -> None:
    tf.keras.utils.set_random_seed(1)
    tower = QueryTower(n_users=5, n_items=7, n_user_features=3, dim=8)
    out = tower(
        _query_inputs(
            [0, 99, 0, 0, 0, 3],
            [[0, 0, 0], [0, 0, 0], [0, 0, 0], [50, 60, 0], [2, 4, 0], [0, 0, 0]],
            [[0, 0, 0], [0, 0, 0], [1, 1, 0], [1, 1, 0], [1, 1, 0], [0, 0, 0]],
        )
    ).numpy()
    assert out.shape == (6, 8)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    # An id beyond the vocabulary behaves exactly like the OOV index 0.
    np.testing.assert_allclose(out[1], out[0], atol=1e-7)
    # OOV entries flagged as real, or unknown item indices, count as an empty history.
    np.testing.assert_allclose(out[2], out[0], atol=1e-7)
    np.testing.assert_allclose(out[3], out[0], atol=1e-7)
    # A real history and a known user both change the query.
    assert np.abs(out[4] - out[0]).max() > 1e-4
    assert np.abs(out[5] - out[0]).max() > 1e-4


@pytest.mark.parametrize("given_order", [False, True])
def test_query_tower_training_path_has_the_same_output_and_gradients(given_order: bool) -> None:
    """training=True pools the history with its own (sorted segment sum) gradient: the query and
    every weight's gradient equal TF's autograd of the serving path, on histories with padding,
    OOV and beyond-vocabulary entries, repeated items and entries the caller masked out."""
    tf.keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    users, items, n, h = 9, 30, 64, 6
    tower = QueryTower(n_users=users, n_items=items, n_user_features=3, dim=8)
    hist = rng.integers(0, items + 1, (n, h))
    hist[rng.random((n, h)) < 0.15] = items + 5  # beyond the trained items
    hist[:, 1] = hist[:, 0]  # a repeated item in every row
    hist[0] = 0  # an empty history
    mask = (hist > 0).astype(np.float32)
    mask[rng.random((n, h)) < 0.1] = 0.0  # known items the caller masks out
    hist[:, -1] = -3  # a negative index, masked or not, is OOV
    inputs = _query_inputs(rng.integers(0, users + 3, n), hist, mask)
    if given_order:
        inputs["history_order"] = tf.constant(history_order(hist))
    upstream = tf.constant(rng.normal(size=(n, 8)).astype(np.float32))
    results = []
    for training in (False, True):
        with tf.GradientTape() as tape:
            out = tower(inputs, training=training)
            loss = tf.reduce_sum(out * upstream)
        grads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, tower.trainable_variables)]
        results.append((out.numpy(), grads))
    (out_serving, g_serving), (out_training, g_training) = results
    np.testing.assert_allclose(out_training, out_serving, atol=1e-6)
    assert len(g_serving) == len(g_training) == len(tower.trainable_variables)
    hist_grad = tower.trainable_variables.index(tower.history_embedding.embeddings)
    assert np.abs(g_training[hist_grad]).max() > 0
    for a, b in zip(g_training, g_serving, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_history_order_sorts_the_flattened_history() -> None:
    for high in (50, 1 << 17):  # the 16-bit radix sort and the general one
        hist = np.random.default_rng(1).integers(0, high, (40, 7))
        order = history_order(hist)
        assert order.dtype == np.int32 and sorted(order) == list(range(hist.size))
        assert (np.diff(hist.reshape(-1)[order]) >= 0).all()


def test_candidate_tower_untrained_items_use_the_oov_id_row() -> None:
    tf.keras.utils.set_random_seed(2)
    rng = np.random.default_rng(0)
    genres = rng.integers(0, 2, size=(10, 20)).astype(np.float32)
    year = rng.random((10, 1)).astype(np.float32)
    text = rng.normal(size=(10, 4)).astype(np.float32)
    for arr in (genres, year, text):
        arr[8] = arr[7]  # items 7 and 8: same content, both beyond the 6 trained ids
        arr[3] = arr[2]  # items 2 and 3: same content, different trained ids
    tower = CandidateTower(n_items=6, content=ItemContent(genres, year, text), dim=8)
    out = tower(tf.constant(np.arange(10), tf.int64)).numpy()
    assert out.shape == (10, 8)
    np.testing.assert_allclose(out[8], out[7], atol=1e-7)
    assert np.abs(out[3] - out[2]).max() > 1e-4


def test_ranker_heads_and_input_standardisation() -> None:
    ranker = Ranker(hidden=(8,))
    ranker.adapt(np.array([[0.0, 100.0], [2.0, 300.0]], np.float32))
    out = ranker({"features": tf.constant([[1.0, 200.0], [0.0, 100.0], [2.0, 300.0], [1.0, 200.0]])})
    assert set(out) == {"rating", "p_interaction"}
    assert out["rating"].shape == (4, 1) and out["p_interaction"].shape == (4, 1)
    p = out["p_interaction"].numpy()
    assert ((p > 0) & (p < 1)).all()
    # The mean input standardises to zeros: rows 0 and 3 are identical, row 1 differs.
    np.testing.assert_allclose(ranker.norm(tf.constant([[1.0, 200.0]])).numpy(), [[0.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(p[0], p[3])


Q = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
C = [[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]]
# scores = Q @ C.T = [[1, 0, 1], [0, 2, -1], [1, 2, 0]]; the positive of row i is column i.


def _table_tower(table: dict[int, list[float]]):  # noqa: ANN202 - a candidate tower: item id -> row
    ids = sorted(table)
    rows = tf.constant([table[i] for i in ids], tf.float32)
    lookup = {i: k for k, i in enumerate(ids)}
    return lambda item_ids: tf.gather(rows, [lookup[int(i)] for i in item_ids.numpy()])


def _loss(probs=None, ids=(1, 2, 3), table=None) -> float:  # noqa: ANN001
    tower = _table_tower(table or dict(zip(ids, C, strict=True)))
    p = None if probs is None else tf.constant(probs, tf.float32)
    return float(retrieval_loss(tf.constant(Q), tower, tf.constant(ids, tf.int64), p, None))


def test_retrieval_loss_is_summed_softmax_cross_entropy() -> None:
    e = math.exp
    expected = (
        (math.log(e(1) + e(0) + e(1)) - 1)
        + (math.log(e(0) + e(2) + e(-1)) - 2)
        + (math.log(e(1) + e(2) + e(0)) - 0)
    )
    assert _loss() == pytest.approx(expected, rel=1e-5)


def test_retrieval_loss_with_sampling_bias_correction() -> None:
    p = [0.5, 0.25, 0.25]
    e, lg = math.exp, math.log
    # every logit s_ij becomes s_ij - log(p_j)
    rows = [[1, 0, 1], [0, 2, -1], [1, 2, 0]]
    expected = 0.0
    for i, row in enumerate(rows):
        corrected = [row[0] - lg(p[0]), row[1] - lg(p[1]), row[2] - lg(p[2])]
        expected += lg(e(corrected[0]) + e(corrected[1]) + e(corrected[2])) - corrected[i]
    assert _loss(p) == pytest.approx(expected, rel=1e-5)
    assert abs(_loss(p) - _loss()) > 0.1  # the correction really changes the loss


def test_retrieval_loss_ignores_accidental_hits() -> None:
    e = math.exp
    # ids 7, 8, 7 (item 7 = [1, 0], item 8 = [0, 2]): rows 0 and 2 share an item, so each one's
    # copy is not a negative of the other; for row 1 both copies of item 7 are negatives.
    expected = (math.log(e(1) + e(0)) - 1) + (math.log(e(0) + e(2) + e(0)) - 2) + (math.log(e(1) + e(2)) - 1)
    got = _loss(ids=(7, 8, 7), table={7: [1.0, 0.0], 8: [0.0, 2.0]})
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("temperature", [None, 0.2])
@pytest.mark.parametrize("corrected", [False, True])
def test_retrieval_loss_equals_tfrs_retrieval_task(temperature: float | None, corrected: bool) -> None:
    """Over the batch's distinct items it is TFRS's in-batch softmax over every row's candidate
    (remove_accidental_hits, logQ correction, temperature), on a batch full of repeated items."""
    import tensorflow_recommenders as tfrs

    rng = np.random.default_rng(3)
    ids = rng.integers(0, 40, 300)
    assert len(np.unique(ids)) < len(ids) / 4
    table = tf.constant(rng.normal(size=(40, 8)).astype(np.float32))
    query = tf.constant(rng.normal(size=(300, 8)).astype(np.float32))
    prob = tf.constant((rng.random(40) / 40).astype(np.float32)[ids]) if corrected else None
    task = tfrs.tasks.Retrieval(temperature=temperature, remove_accidental_hits=True)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([query, table])
        expected = task(
            query,
            tf.gather(table, ids),
            candidate_sampling_probability=prob,
            candidate_ids=tf.constant(ids, tf.int64),
            compute_metrics=False,
        )
        got = retrieval_loss(
            query, lambda idx: tf.gather(table, idx), tf.constant(ids, tf.int64), prob, temperature
        )
    assert float(got) == pytest.approx(float(expected), rel=1e-5)
    # and so are the gradients (the cross-entropy's is written by hand: softmax - one-hot)
    for theirs, mine in zip(*(tape.gradient(x, [query, table]) for x in (expected, got)), strict=True):
        theirs, mine = tf.convert_to_tensor(theirs).numpy(), tf.convert_to_tensor(mine).numpy()
        assert np.abs(theirs).max() > 0
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_train_step_makes_tfrs_update_with_dense_gradients() -> None:
    """The embedding tables' gradients are summed into dense ones before Adam: after two steps the
    weights are those of TFRS's own train step (sparse gradients)."""
    import tensorflow_recommenders as tfrs

    rng = np.random.default_rng(5)
    n, users, items = 64, 10, 12
    content = ItemContent(
        rng.integers(0, 2, (items + 1, 3)).astype(np.float32),
        rng.random((items + 1, 1)).astype(np.float32),
        rng.normal(size=(items + 1, 4)).astype(np.float32),
    )
    hist = rng.integers(0, items + 1, (n, 5))
    batch = {
        "user_idx": tf.constant(rng.integers(0, users + 1, n), tf.int64),
        "history_idx": tf.constant(hist, tf.int64),
        "history_mask": tf.constant((hist > 0).astype(np.float32)),
        "user_features": tf.constant(rng.random((n, 3)).astype(np.float32)),
        "item_idx": tf.constant(rng.integers(1, items + 1, n), tf.int64),
        "item_prob": tf.constant(rng.random(n).astype(np.float32) / items),
    }
    weights = []
    # ours: dense gradients and the batch's history order, as the input pipeline gives it
    ours = {**batch, "history_order": tf.constant(history_order(hist))}
    for step, inputs in ((TwoTowerModel.train_step, ours), (tfrs.Model.train_step, batch)):
        tf.keras.utils.set_random_seed(9)
        model = TwoTowerModel(QueryTower(users, items, 3, dim=8), CandidateTower(items, content, dim=8), 0.2)
        model.compile(optimizer=tf.keras.optimizers.Adam(0.05))
        before = None
        for _ in range(2):
            step(model, inputs)
            before = before or [w.numpy() for w in model.trainable_variables]
        weights.append([w.numpy() for w in model.trainable_variables])
        assert all(np.abs(a - b).max() > 0 for a, b in zip(before, weights[-1], strict=True))  # all trained
    assert len(weights[0]) == len(weights[1]) > 0
    for mine, theirs in zip(*weights, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_retrieval_optimizer_is_keras_adam() -> None:
    """TF's fused Adam kernel makes Keras Adam's updates (to float32 rounding of the bias corrections)."""
    rng = np.random.default_rng(6)
    grads = [rng.normal(size=(20, 3)).astype(np.float32) * 10.0**-k for k in range(5)]
    out = []
    for opt in (retrieval_optimizer(0.05), tf.keras.optimizers.Adam(0.05)):
        var = tf.Variable(np.zeros((20, 3), np.float32))
        for g in grads:
            opt.apply_gradients([(tf.constant(g), var)])
        out.append(var.numpy())
    assert np.abs(out[1]).min() > 1e-3  # every entry moved
    np.testing.assert_allclose(out[0], out[1], rtol=1e-4, atol=1e-7)


def test_ranker_ensemble_averages_its_members_heads() -> None:
    members = []
    for seed in (1, 2):
        tf.keras.utils.set_random_seed(seed)
        m = Ranker(hidden=(4,))
        m.adapt(np.array([[0.0, 1.0], [1.0, 3.0]], np.float32))
        members.append(m)
    x = {"features": tf.constant([[0.5, 2.0], [1.0, 0.0]])}
    a, b = members[0](x), members[1](x)
    out = RankerEnsemble(members)(x)
    for h in ("p_interaction", "rating"):
        np.testing.assert_allclose(out[h].numpy(), (a[h].numpy() + b[h].numpy()) / 2, rtol=1e-6)
    assert np.abs(a["p_interaction"].numpy() - b["p_interaction"].numpy()).max() > 1e-4  # members differ


def test_ranker_constant_input_is_centred_not_blown_up() -> None:
    """A feature constant in training (e.g. genre fit for a catalogue without genres) must not be
    divided by ~0: it maps to 0, so any served value stays in range."""
    ranker = Ranker(hidden=(4,))
    x = np.array([[0.0, 3.0], [2.0, 3.0]], np.float32)
    ranker.adapt(x)
    z = ranker.norm(tf.constant([[1.0, 3.0], [1.0, 5.0]])).numpy()
    np.testing.assert_allclose(z[0], [0.0, 0.0], atol=1e-6)
    assert z[1, 1] == pytest.approx(2.0)  # (5 - 3) / 1, not / 1e-7
