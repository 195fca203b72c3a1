"""The bundle's 'because you liked' neighbour lists (``artifacts.cosine_neighbours``)."""

from __future__ import annotations

import numpy as np
import pytest

from training.artifacts import cosine_neighbours, top_k_stable


def _by_full_sort(vectors: np.ndarray, ids: list[str], k: int) -> dict[str, list[list[object]]]:
    """The definition, row by row: cosine to every other non-zero row, best first, ties by index."""
    norms = np.linalg.norm(vectors, axis=1)
    out = {}
    for i in np.flatnonzero(norms > 0):
        scores = []
        for j in np.flatnonzero(norms > 0):
            if j != i:
                scores.append((-float(vectors[i] @ vectors[j] / (norms[i] * norms[j])), int(j)))
        scores.sort()  # by score, then by index: a stable order
        out[ids[i]] = [[ids[j], round(-s, 6)] for s, j in scores[:k]]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_k_is_a_stable_sort_of_each_row(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=(50, 80)).astype(np.float32)  # ties everywhere, at the k-th too
    scores[:, :3] = -np.inf  # excluded columns
    for k in (1, 5, 20, 77):
        np.testing.assert_array_equal(
            top_k_stable(scores, k), np.argsort(-scores, axis=1, kind="stable")[:, :k]
        )


@pytest.mark.parametrize("n", [300, 41])
def test_neighbours_are_each_rows_best_cosines(n: int) -> None:
    rng = np.random.default_rng(n)
    v = rng.normal(size=(n, 8))
    v[[0, 7]] = 0.0  # the OOV row and an item without a vector: no list, nobody's neighbour
    ids = [f"i{j}" for j in range(n)]
    got = cosine_neighbours(v.astype(np.float32), ids, k=10, chunk=64)  # several chunks, the last one short
    want = _by_full_sort(v, ids, 10)
    assert got.keys() == want.keys() and "i0" not in got and "i7" not in got
    for key, lst in want.items():
        assert [j for j, _ in got[key]] == [j for j, _ in lst], key
        np.testing.assert_allclose([s for _, s in got[key]], [s for _, s in lst], atol=2e-6)
