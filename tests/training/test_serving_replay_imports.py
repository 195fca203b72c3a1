"""Serving's pure request pipeline runs in the training env (offline replay): no Redis, no FastAPI.

The training run replays ``serving.pipeline`` over evaluation users, so its modules (and
``serving.bundle``) must import with numpy, onnxruntime, pydantic and the contracts only.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from testing_support.bundle_builder import BundleSpec, build_bundle, expected_query, expected_scores

REPO = Path(__file__).resolve().parents[2]
# Every module of serving/pipeline (a new stage module is covered without an edit here).
PURE_MODULES = ["serving.bundle", "serving.vector_index", "serving.pipeline"] + [
    f"serving.pipeline.{p.stem}"
    for p in sorted((REPO / "serving" / "pipeline").glob("*.py"))
    if p.stem != "__init__"
]
FORBIDDEN = ["redis", "fastapi", "starlette", "prometheus_client", "yaml", "uvicorn"]


def test_pure_modules_import_without_serving_only_packages():
    code = (
        "import importlib, sys\n"
        f"for m in {PURE_MODULES!r}: importlib.import_module(m)\n"
        f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    assert len(PURE_MODULES) >= 14  # the stage modules were found
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"pure serving modules imported {out.stdout.strip()}"


# The training run's replay loads the bundle as serving does: above the HNSW threshold (20,000
# items by default; the 25m preset has 62,000) the vector index is hnswlib's, so the training env
# needs it too (the 25m run failed on its import). 2 puts this small bundle above it.
@pytest.mark.parametrize("hnsw_threshold", [20_000, 2])
def test_one_request_replayed_on_a_small_bundle(tmp_path, hnsw_threshold):
    from serving.bundle import load_bundle
    from serving.pipeline import (
        ItemFeatures,
        PipelineConfig,
        PipelineInput,
        RecParams,
        UserState,
        run_pipeline,
        trending_window,
    )

    spec = BundleSpec()
    bundle = load_bundle(build_bundle(tmp_path, spec), hnsw_threshold=hnsw_threshold)
    assert bundle.index.kind == ("hnsw" if hnsw_threshold == 2 else "exact")
    bayes = {"i2": 5.0, "i7": 4.0, "i9": 1.0}
    feats = ItemFeatures.from_rows(bundle, {i: {"item_stats__bayes_rating": b} for i, b in bayes.items()})
    state = UserState(seen={"i1"}, not_interested={"i4"}, recent=["i1"])
    inp = PipelineInput(
        bundle=bundle,
        item_features=feats,
        config=PipelineConfig(
            generators=("two_tower", "trending"), diversity_window=0, exploration_share=0.0
        ),
        params=RecParams(k=12),
        user_id="u2",
        state=state,
        trending=(trending_window(bundle, [("i12", 3.0), ("nope", 9.0)], "Trending today"),),
    )
    result = run_pipeline(inp)

    q = expected_query(spec, "u2", ["i1"])  # the query tower sees the recent item
    rest = [i for i in spec.items if i not in ("i1", "i4")]  # seen, not interested
    want = expected_scores(spec, q, rest, bayes)
    got = [(it.item_id, it.score) for it in result.items]
    assert [i for i, _ in got] == sorted(rest, key=lambda i: -want[i])
    for i, s in got:
        assert s == want[i] or abs(s - want[i]) < 1e-5
    sources = {it.item_id: it.source for it in result.items}
    assert sources["i12"] == "two_tower+trending" and sources["i2"] == "two_tower"
    # The ranked candidates keep per-generator ranks and the two-tower score for every candidate.
    assert result.ranked.generators == ("two_tower", "trending")
    assert np.isnan(result.ranked.gen_ranks[:, 1]).sum() == len(rest) - 1
    assert result.features is not None and not np.isnan(result.features.two_tower_score).any()
    assert [s for s, _ in result.trace.timings][-5:] == ["filter", "features", "score", "rank", "explain"]
    assert result.trace.filter_drops == {"seen": 1, "not_interested": 1}
