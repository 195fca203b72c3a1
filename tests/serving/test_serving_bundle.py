"""Bundle loading, verification and the vector index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serving.bundle import BundleError, load_bundle
from serving.holder import BundleHolder
from serving.vector_index import VectorIndex
from testing_support.bundle_builder import BundleSpec, build_bundle, publish


def test_exact_and_hnsw_index_agree_with_brute_force():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(500, 16)).astype(np.float32)
    q = rng.normal(size=16).astype(np.float32)
    truth = np.argsort(-(vecs @ q))[:10].tolist()
    exact = VectorIndex(vecs, hnsw_threshold=10_000)
    hnsw = VectorIndex(vecs, hnsw_threshold=100)
    assert (exact.kind, hnsw.kind) == ("exact", "hnsw")
    assert [i for i, _ in exact.search(q, 10)] == truth
    got = [i for i, _ in hnsw.search(q, 10)]
    assert len(set(got) & set(truth)) >= 9  # approximate, but ef=200 on 500 points is near exact
    assert [s for _, s in hnsw.search(q, 1)][0] == pytest.approx(float(vecs[truth[0]] @ q), rel=1e-4)


def test_hnsw_search_breadth_follows_the_setting(tmp_path):
    """LAMBDAREC_VECTOR_EF_RUNTIME sets the in-process HNSW's search breadth too (was fixed at 200)."""
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(4000, 32)).astype(np.float32)
    queries = rng.normal(size=(40, 32)).astype(np.float32)
    truth = [set(np.argsort(-(vecs @ q))[:50].tolist()) for q in queries]

    def recall(ef: int) -> float:
        index = VectorIndex(vecs, hnsw_threshold=100, ef_runtime=ef)
        assert index.hnsw.ef == ef
        return float(
            np.mean(
                [
                    len(t & {i for i, _ in index.search(q, 50)}) / 50
                    for q, t in zip(queries, truth, strict=True)
                ]
            )
        )

    narrow, wide = recall(50), recall(800)
    assert wide >= 0.97 and wide > narrow
    path = build_bundle(tmp_path, BundleSpec(version="ef"))
    assert load_bundle(path, hnsw_threshold=1, ef_runtime=33).index.hnsw.ef == 33


def test_load_rejects_inconsistent_bundles(tmp_path):
    path = build_bundle(tmp_path)
    assert load_bundle(path).version == BundleSpec().version
    np.save(path / "item_embeddings.npy", np.zeros((3, 4), np.float32))
    with pytest.raises(BundleError, match="does not match item_vocab"):
        load_bundle(path)
    path2 = build_bundle(tmp_path, BundleSpec(version="v2"))
    (path2 / "popular.json").unlink()
    with pytest.raises(BundleError, match="popular.json"):
        load_bundle(path2)
    path3 = build_bundle(tmp_path, BundleSpec(version="v3"))
    m = json.loads((path3 / "manifest.json").read_text())
    m["value_model_weights"]["ctr"] = 1.0
    (path3 / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="ctr"):
        load_bundle(path3)


def test_holder_swaps_only_on_change(tmp_path):
    models = tmp_path / "models"
    a = build_bundle(models / "bundles", BundleSpec(version="a"))
    b = build_bundle(models / "bundles", BundleSpec(version="b"))
    swaps: list[str] = []
    holder = BundleHolder(models / "current", on_swap=lambda x: swaps.append(x.version))
    assert holder.refresh() is False and holder.current is None and "no bundle" in (holder.last_error or "")
    publish(models, a)
    assert holder.refresh() is True and holder.refresh() is False
    first = holder.current
    publish(models, b)
    assert holder.refresh() is True
    assert swaps == ["a", "b"] and first is not None and first.version == "a"  # old object untouched


def test_genre_bits_and_model_runs_match_the_catalogue_and_onnxruntime(tmp_path):
    b = load_bundle(build_bundle(tmp_path))
    for p, genres in enumerate(b.genres_of):  # bit j: genre_names[j]
        assert {g for j, g in enumerate(b.genre_names) if b.genre_bits[p] >> j & 1} == set(genres)
    assert any(b.genre_bits)
    # The sessions are run without onnxruntime's Python wrapper: same outputs as through it.
    uf = np.linspace(0, 1, b.query_tower.get_inputs()[3].shape[1], dtype=np.float32)
    q = b.query_embedding(b.item_ids[1], [b.item_ids[2], b.item_ids[1]], uf)
    idx = np.zeros((1, b.manifest.history_len), np.int64)
    idx[0, :2] = [b.item_index[b.item_ids[2]], b.item_index[b.item_ids[1]]]
    mask = (idx > 0).astype(np.float32)
    user = np.asarray([b.user_index.get(b.item_ids[1], 0)], np.int64)
    feeds = {"user_idx": user, "history_idx": idx, "history_mask": mask, "user_features": uf[None]}
    np.testing.assert_array_equal(q, b.query_tower.run(None, feeds)[0][0])
