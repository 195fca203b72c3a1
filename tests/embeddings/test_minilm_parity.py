"""The onnxruntime MiniLM gives sentence-transformers' (torch) vectors: cosine >= 0.999 per text.

The reference vectors were made once with sentence-transformers on torch from the same packaged
weights (``make_minilm_reference.py``, which says how); they are never produced by the code under test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from jobs.embeddings.providers import LocalProvider

REFERENCE = Path(__file__).resolve().parent / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def reference() -> dict:
    doc = json.loads(REFERENCE.read_text())
    assert "torch" in doc["made_with"], "the reference must come from the torch implementation"
    return doc


def test_vectors_match_the_torch_reference(reference: dict) -> None:
    expected = np.asarray(reference["vectors"], dtype=np.float32)
    got = LocalProvider(batch_size=8).embed(reference["texts"]).vectors
    assert got.shape == expected.shape
    cosine = (got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    worst = int(np.argmin(cosine))
    assert cosine.min() >= 0.999, (
        f"text #{worst} cosine {cosine[worst]:.5f}: {reference['texts'][worst][:80]!r}"
    )
    # the same texts in another order and batch size give the same vectors (padding is masked)
    shuffled = LocalProvider(batch_size=64).embed(reference["texts"][::-1]).vectors[::-1]
    np.testing.assert_allclose(shuffled, got, atol=1e-5)


def test_no_torch_on_the_local_path() -> None:
    LocalProvider().embed(["anything"])
    assert "torch" not in sys.modules and "sentence_transformers" not in sys.modules
