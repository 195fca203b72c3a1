"""The local provider: the packaged MiniLM (onnxruntime, no hub, no torch) puts related texts closer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.embeddings.providers import LocalProvider
from jobs.embeddings.quality import genre_sets, same_genre_precision
from jobs.embeddings.run import main
from tests.embeddings.test_embeddings_openai import ITEMS, write_items


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    p = LocalProvider()
    p.load()
    return p


def test_model_loads_with_384_unit_vectors(provider: LocalProvider) -> None:
    vectors = provider.embed(["a quiet drama about family", "an alien invasion in space"]).vectors
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), [1.0, 1.0], atol=1e-5)


def test_semantically_close_texts_are_nearer(provider: LocalProvider) -> None:
    anchor, close, far = provider.embed(
        [
            "A spaceship crew fights a deadly alien creature.",
            "Astronauts are hunted by an extraterrestrial monster aboard their ship.",
            "A young woman bakes cakes for her grandmother's village fair.",
        ]
    ).vectors
    assert float(anchor @ close) > float(anchor @ far) + 0.2


def test_precision_metric_on_hand_made_vectors() -> None:
    # items 0,1 share "A"; 2,3 share "B"; vectors put each next to its genre partner
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    result = same_genre_precision(vectors, genre_sets([["A"], ["A"], ["B"], ["B"]]), k=1)
    assert result["precision_at_k"] == 1.0
    assert result["random_baseline"] == pytest.approx(1 / 3)


def test_job_with_local_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    write_items(data_dir, ITEMS[:3])
    monkeypatch.setenv("LAMBDAREC_DATA_DIR", str(data_dir))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # local is the default without a key
    assert main(["--ds", "2024-02-01"]) == 0
    out = pq.read_table(data_dir / "embeddings" / "item_text_embeddings.parquet").to_pandas()
    assert list(out["item_id"]) == ["1", "2", "3"]
    assert set(out["embedding_model"]) == {"all-MiniLM-L6-v2"}
    assert all(len(v) == 384 for v in out["embedding"])
    assert main(["--ds", "2024-02-01"]) == 0
    records = [json.loads(x) for x in (data_dir / "embeddings" / "runs.jsonl").read_text().splitlines()]
    assert [(r["provider"], r["items_embedded"], r["api_calls"]) for r in records] == [
        ("local", 3, 0),
        ("local", 0, 0),
    ]
    pd.testing.assert_frame_equal(
        pq.read_table(data_dir / "embeddings" / "item_text_embeddings.parquet").to_pandas(), out
    )
