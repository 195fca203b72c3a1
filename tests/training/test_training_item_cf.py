"""EASE, item-kNN, pruning and the bundle's CSR neighbour format, checked against independent formulas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lambdarec_contracts.item_cf import SparseNeighbours
from training import item_cf
from training.ranker_data import fit_candidate_models, popularity_percentile


def _random_interactions(seed: int = 0, users: int = 40, items: int = 12, n: int = 200):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, users, n)
    i = rng.integers(1, items, n)  # 0 is the OOV index
    return u, i, users, items


def test_gram_is_x_transpose_x_of_the_binary_matrix_in_any_blocking(monkeypatch: pytest.MonkeyPatch) -> None:
    u, i, nu, ni = _random_interactions()
    x = np.zeros((nu, ni))
    x[u, i] = 1.0  # duplicates count once
    whole = item_cf.gram(u, i, nu, ni)
    assert whole.dtype == np.float64
    np.testing.assert_array_equal(whole, x.T @ x)
    monkeypatch.setattr(item_cf, "ROW_BLOCK", 5)  # 12 columns: 3 blocks, the last one short
    np.testing.assert_array_equal(item_cf.gram(u, i, nu, ni), x.T @ x)


def test_ease_solves_each_columns_ridge_regression() -> None:
    u, i, nu, ni = _random_interactions(1)
    x = np.zeros((nu, ni))
    x[u, i] = 1.0
    lam = 3.0
    b = item_cf.ease(x.T @ x, lam)
    for j in (1, 4, 9):
        # Independent: min ||x_j - X_{-j} w||² + λ||w||², the diagonal constrained to zero.
        others = [k for k in range(ni) if k != j]
        xo = x[:, others]
        w = np.linalg.solve(xo.T @ xo + lam * np.eye(len(others)), xo.T @ x[:, j])
        np.testing.assert_allclose(b[others, j], w, atol=1e-4)
        assert b[j, j] == 0.0


def test_prune_keeps_each_rows_strongest_positive_weights_and_scores_sum_rows() -> None:
    w = np.array(
        [[0, 9, 9, 9], [0, 0, 0.5, -1.0], [0, 0.2, 0, 0.7], [0, 0.3, 0.1, 0]], dtype=np.float32
    )  # row/column 0 = OOV: never kept
    m = item_cf.prune(w, k=1, kind="ease")
    assert m.row(0)[0].tolist() == []
    assert m.row(1)[0].tolist() == [2] and m.row(2)[0].tolist() == [3] and m.row(3)[0].tolist() == [1]
    dense = np.zeros_like(w)
    for r in range(4):
        idx, val = m.row(r)
        dense[r, idx] = val
    np.testing.assert_allclose(m.scores(np.array([1, 3, 3, 0])), dense[[1, 3]].sum(axis=0))
    negative_only = item_cf.prune(np.array([[0, 0], [0, -1.0]], np.float32), k=1, kind="ease")
    assert negative_only.row(1)[0].tolist() == []


def test_sparse_neighbours_round_trip_and_validation(tmp_path: Path) -> None:
    g = item_cf.gram(*_random_interactions(2))
    item_cf.cosine_in_place(g)
    m = item_cf.prune(g, k=3, kind="item_knn")
    m.save(tmp_path / "n.npz")
    back = SparseNeighbours.load(tmp_path / "n.npz")
    assert back.kind == "item_knn"
    np.testing.assert_array_equal(back.indices, m.indices)
    np.testing.assert_array_equal(back.scores(np.array([2, 5])), m.scores(np.array([2, 5])))
    with pytest.raises(ValueError, match="outside the item vocabulary"):
        SparseNeighbours(np.array([0, 1]), np.array([5], np.int32), np.array([1.0], np.float32))


def test_cf_restricted_to_the_most_popular_items_keeps_full_indices() -> None:
    u, i, nu, ni = _random_interactions(3, items=30, n=600)
    full = fit_candidate_models(u, i, nu, ni, lam=5.0, keep=5, max_cf_items=ni)
    small = fit_candidate_models(u, i, nu, ni, lam=5.0, keep=5, max_cf_items=10)
    top10 = set(np.argsort(-np.bincount(i, minlength=ni), kind="stable")[:10].tolist())
    assert small.item_cf.n_items == full.item_cf.n_items == ni
    assert set(small.item_cf.indices.tolist()) <= top10
    rows_with_neighbours = {r for r in range(ni) if len(small.item_cf.row(r)[0])}
    assert rows_with_neighbours <= top10
    np.testing.assert_array_equal(small.popularity, full.popularity)
    pct = popularity_percentile(np.array([0.0, 5, 1, 9]))
    np.testing.assert_allclose(pct, [0, 2 / 3, 1 / 3, 1.0])


def _cosine(g: np.ndarray) -> np.ndarray:
    s = g.copy()
    item_cf.cosine_in_place(s)
    return s


def test_cosine_and_prune_give_the_same_result_in_any_row_blocking(monkeypatch: pytest.MonkeyPatch) -> None:
    u, i, nu, ni = _random_interactions(3, users=60, items=30, n=500)
    g = item_cf.gram(u, i, nu, ni)
    norms = np.sqrt(np.diag(g))
    norms[norms == 0] = 1.0
    expected_cos = g / np.outer(norms, norms)
    np.fill_diagonal(expected_cos, 0.0)
    whole = _cosine(g), item_cf.prune(item_cf.ease(g, 2.0), 5, "ease")
    monkeypatch.setattr(item_cf, "ROW_BLOCK", 7)  # 30 rows: 5 blocks, the last one short
    blocked = _cosine(g), item_cf.prune(item_cf.ease(g, 2.0), 5, "ease")
    np.testing.assert_allclose(whole[0], expected_cos, rtol=1e-12)
    np.testing.assert_array_equal(blocked[0], whole[0])
    for a, b in zip((whole[1].indptr, whole[1].indices, whole[1].weights),
                    (blocked[1].indptr, blocked[1].indices, blocked[1].weights), strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    assert whole[1].row(0)[0].tolist() == [] and len(whole[1].indices) > 0


def test_the_gram_matrix_comes_back_exactly_from_its_cosine(monkeypatch: pytest.MonkeyPatch) -> None:
    # Large counts and an item nobody has (zero norm): the round trip must give the very same G.
    rng = np.random.default_rng(7)
    u, i = rng.integers(0, 5000, 60_000), rng.integers(1, 40, 60_000)
    i[i == 13] = 14
    g = item_cf.gram(u, i, 5000, 41)
    kept = g.copy()
    monkeypatch.setattr(item_cf, "ROW_BLOCK", 16)
    norms, diag = item_cf.cosine_in_place(g)
    assert not np.array_equal(g, kept) and np.all(np.diag(g) == 0)
    item_cf.restore_gram(g, norms, diag)
    np.testing.assert_array_equal(g, kept)


def test_times_casts_a_float64_matrix_by_blocks_to_the_float32_product(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(1)
    x = (rng.random((9, 30)) < 0.3).astype(np.float32)
    w = rng.normal(size=(30, 30))
    monkeypatch.setattr(item_cf, "ROW_BLOCK", 7)
    got = item_cf.times(x, w)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, x.astype(np.float64) @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(item_cf.times(x, w.astype(np.float32)), x @ w.astype(np.float32))


def test_candidate_models_show_each_dense_matrix_before_its_buffer_is_reused() -> None:
    u, i, nu, ni = _random_interactions(4, users=80, items=25, n=700)
    x = np.zeros((nu, ni))
    x[u, i] = 1.0
    g = x.T @ x
    seen: dict[str, np.ndarray] = {}

    def keep(name: str, w: np.ndarray, to_full: np.ndarray) -> None:
        seen[name] = np.array(w, dtype=np.float64)  # copied: the buffer is reused after the call
        seen[name + "_to_full"] = to_full.copy()

    models = fit_candidate_models(u, i, nu, ni, lam=4.0, keep=6, max_cf_items=ni, dense=keep)
    # Every item with an interaction is in the dense matrices, in index order.
    assert seen["item_knn_to_full"].tolist() == [0, *np.flatnonzero(np.bincount(i, minlength=ni)).tolist()]
    cols = seen["item_knn_to_full"]
    np.testing.assert_allclose(seen["item_knn"], _cosine(g)[np.ix_(cols, cols)], rtol=1e-12)
    np.testing.assert_allclose(seen["ease"], item_cf.ease(g, 4.0)[np.ix_(cols, cols)], atol=1e-6)
    # The pruned generators are the same as pruning those dense matrices independently.
    for name, m in (("ease", models.item_cf), ("item_knn", models.item_knn)):
        ref = item_cf.widen(item_cf.prune(seen[name], 6, name), cols, ni)
        np.testing.assert_array_equal(m.indptr, ref.indptr)
        np.testing.assert_array_equal(m.indices, ref.indices)
        np.testing.assert_allclose(m.weights, ref.weights, rtol=1e-6)


def test_ease_in_place_equals_the_dense_inverse_and_may_reuse_the_gram_matrix() -> None:
    u, i, nu, ni = _random_interactions(2)
    g = item_cf.gram(u, i, nu, ni)
    a = g + 5.0 * np.eye(ni)
    p = np.linalg.inv(a)
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    kept = g.copy()
    b = item_cf.ease(g, 5.0)
    np.testing.assert_array_equal(g, kept)  # not overwritten unless asked
    np.testing.assert_allclose(b, expected, atol=1e-6)
    np.testing.assert_array_equal(item_cf.ease(g, 5.0, overwrite_g=True), b)


def test_the_cf_matrices_take_exactly_the_dense_limit_of_items(monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalogue larger than the limit is cut to ``max_cf_items`` = the limit; the padding row 0
    comes on top. The 25m preset (62,000 items, limit 20,000) failed here: the side 20,001 was
    refused. The limit is lowered so that the test stays small; the arithmetic is the same."""
    u, i, nu, ni = _random_interactions(3, items=30, n=600)
    limit = 12
    assert len(np.unique(i)) > limit
    monkeypatch.setattr(item_cf, "DENSE_MAX_ITEMS", limit)
    models = fit_candidate_models(u, i, nu, ni, lam=5.0, keep=5, max_cf_items=limit)
    assert len(set(models.item_cf.indices.tolist())) == limit  # every CF item is someone's neighbour here
    assert len(set(models.item_knn.indices.tolist())) == limit
    with pytest.raises(ValueError, match="holds more than 12 items"):
        item_cf.gram(u, i, nu, limit + 2)


def test_config_refuses_more_cf_items_than_the_dense_limit() -> None:
    from pydantic import ValidationError

    from training.config import TrainConfig

    assert TrainConfig(ds="2024-01-01").max_cf_items == item_cf.DENSE_MAX_ITEMS
    with pytest.raises(ValidationError) as err:
        TrainConfig(ds="2024-01-01", max_cf_items=item_cf.DENSE_MAX_ITEMS + 1)
    assert [e["loc"] for e in err.value.errors()] == [("max_cf_items",)]


def test_ease_factorises_a_catalogue_past_the_threaded_openblas_crash(tmp_path: Path) -> None:
    """16,384 items: OpenBLAS's threaded dpotrf dies with SIGSEGV there on 2 cores (the 25m
    preset's 20,001-item EASE did). Run in a child process so that a crash fails this test
    instead of the test run; G = 2I + 0.001·11ᵀ has a known inverse to check against."""
    import subprocess
    import sys

    n = 16_384
    script = f"""
import numpy as np
from training import item_cf
n = {n}
g = np.full((n, n), 0.001)
g[np.diag_indices_from(g)] += 1.0  # + lambda = 1 -> 2I + c11^T
b = item_cf.ease(g, 1.0, overwrite_g=True)
# (2I + c11^T)^-1 = I/2 - c/(2(2 + nc)) 11^T: off-diagonal P_ij = -c/(2(2+nc)), P_jj = 1/2 + that,
# so B_ij = -P_ij / P_jj for i != j.
c = 0.001
off = -c / (2 * (2 + n * c))
want = -off / (0.5 + off)
print(float(b[1, 0]), float(b[n - 1, n - 2]), float(b[0, 0]), want)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    b10, b_last, b00, want = map(float, proc.stdout.split())
    assert b10 == pytest.approx(want, rel=1e-4) and b_last == pytest.approx(want, rel=1e-4)
    assert b00 == 0.0
