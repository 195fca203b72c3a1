"""Quality of the text embeddings: precision@k of same-genre neighbours vs a random baseline.

    python -m jobs.embeddings.quality [--k 10] [--provider local]

Reads ``marts/dim_items.parquet``, embeds every item (nothing is written) and prints, for the
items that have a genre, the share of each item's k nearest neighbours (cosine) that share at
least one genre with it, next to what random neighbours would score (exact expectation).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from jobs.embeddings.providers import LocalProvider, OpenAIProvider
from jobs.embeddings.settings import EmbeddingsSettings
from jobs.embeddings.text import item_text
from lambdarec_contracts.tables import DIM_ITEMS

NO_GENRE = "(other)"


def genre_sets(genres: Sequence[Sequence[str] | None]) -> list[frozenset[str]]:
    return [frozenset(g for g in (gs if gs is not None else []) if g != NO_GENRE) for gs in genres]


def same_genre_precision(vectors: np.ndarray, genres: list[frozenset[str]], k: int = 10) -> dict[str, float]:
    """Mean precision@k of genre-sharing neighbours and the random-neighbour expectation. Pure."""
    n = len(genres)
    share = np.array([[bool(genres[i] & genres[j]) for j in range(n)] for i in range(n)], dtype=bool)
    has_genre = np.array([bool(g) for g in genres])
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)  # an item is not its own neighbour
    top = np.argsort(-sims, axis=1)[:, :k]
    queries = np.flatnonzero(has_genre)
    precision = float(np.mean([share[i, top[i]].mean() for i in queries]))
    np.fill_diagonal(share, False)
    random_baseline = float(np.mean([share[i].sum() / (n - 1) for i in queries]))
    return {
        "precision_at_k": precision,
        "random_baseline": random_baseline,
        "k": k,
        "items": int(len(queries)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.embeddings.quality", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--provider", choices=["openai", "local"], default="local")
    args = parser.parse_args(argv)
    settings = EmbeddingsSettings()
    items = pd.read_parquet(settings.marts_dir / f"{DIM_ITEMS}.parquet")
    texts = [
        item_text(r.title, r.genres, r.year, r.tags, r.description)
        for r in items[["title", "genres", "year", "tags", "description"]].itertuples(index=False)
    ]
    provider = OpenAIProvider(settings) if args.provider == "openai" else LocalProvider()
    t0 = time.perf_counter()
    vectors = provider.embed(texts).vectors
    seconds = time.perf_counter() - t0
    result = same_genre_precision(vectors, genre_sets(list(items["genres"])), args.k)
    result |= {
        "model": provider.model,
        "embed_seconds": round(seconds, 2),
        "items_per_s": round(len(texts) / seconds, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
