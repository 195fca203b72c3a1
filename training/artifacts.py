"""Bundle artifacts that need no TensorFlow: neighbour lists, popular lists, catalogue snapshot,
checksums. Pure functions over numpy/pandas plus a JSON writer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lambdarec_contracts.bundle import MANIFEST_FILE
from training.bundle_eval import sha256_of


def top_k_stable(scores: np.ndarray, k: int) -> np.ndarray:
    """Each row's k highest scores' columns, best first, ties by column: what a stable sort of
    the whole row gives, in O(n_columns) a row instead of O(n_columns log n_columns) (62,000
    items took ~6 min a neighbour table with the full sort). ``k`` <= the number of columns."""
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]  # each row's k-th highest score
    out = np.empty((len(scores), k), np.int64)
    for n, row in enumerate(scores):
        cand = np.flatnonzero(row >= kth[n])  # k of them, more on a tie at the k-th score
        out[n] = cand[np.argsort(-row[cand], kind="stable")[:k]]
    return out


def cosine_neighbours(
    vectors: np.ndarray, ids: Sequence[str], k: int = 20, chunk: int = 1024
) -> dict[str, list[list[Any]]]:
    """Top-k cosine neighbours of every row with a non-zero vector ({id: [[neighbour, score], ...]}).

    Rows whose vector is all zeros (OOV row, items without a text embedding) get no list and
    are never anybody's neighbour.
    """
    v = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(v, axis=1)
    valid = norms > 0
    unit = np.zeros_like(v)
    unit[valid] = v[valid] / norms[valid, None]
    out: dict[str, list[list[Any]]] = {}
    rows = np.flatnonzero(valid)
    k = min(k, max(int(valid.sum()) - 1, 0))
    if k == 0:
        return out
    for lo in range(0, len(rows), chunk):
        r = rows[lo : lo + chunk]
        sims = unit[r] @ unit.T
        sims[:, ~valid] = -np.inf
        sims[np.arange(len(r)), r] = -np.inf  # never your own neighbour
        for n, (i, top) in enumerate(zip(r, top_k_stable(sims, k), strict=True)):
            out[ids[i]] = [[ids[j], round(float(sims[n, j]), 6)] for j in top]
    return out


def popular_lists(
    interactions: pd.DataFrame,
    dim_items: pd.DataFrame,
    end: pd.Timestamp,
    window_days: int = 30,
    n_overall: int = 100,
    n_per_genre: int = 50,
) -> dict[str, Any]:
    """Most positive interactions in the last ``window_days`` before ``end`` (all-time count breaks ties)."""
    hist = interactions[interactions["event_ts"] < end]
    pos = hist[hist["is_positive"].fillna(False).astype(bool)]  # nullable in some marts
    recent = pos[pos["event_ts"] >= end - pd.Timedelta(days=window_days)]
    recent_n = recent.groupby("item_id").size()
    total_n = pos.groupby("item_id").size()
    frame = pd.DataFrame({"recent": recent_n, "total": total_n}).fillna(0)
    frame.index = frame.index.astype(str)
    frame = frame.reset_index(names="item_id").sort_values(
        ["recent", "total", "item_id"], ascending=[False, False, True]
    )
    ranked = frame["item_id"].tolist()
    genres_of = {
        str(i): list(g) if g is not None else []
        for i, g in zip(dim_items["item_id"], dim_items["genres"], strict=True)
    }
    by_genre: dict[str, list[str]] = {}
    for item in ranked:
        for g in genres_of.get(item, []):
            lst = by_genre.setdefault(g, [])
            if len(lst) < n_per_genre:
                lst.append(item)
    return {"overall": ranked[:n_overall], "by_genre": by_genre, "window_days": window_days}


def items_snapshot(dim_items: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """{item_id: {"title", "genres", "year"}} from the dim_items mart."""
    out = {}
    for item_id, title, genres, year in zip(
        dim_items["item_id"], dim_items["title"], dim_items["genres"], dim_items["year"], strict=True
    ):
        out[str(item_id)] = {
            "title": None if pd.isna(title) else str(title),
            "genres": [str(g) for g in genres] if genres is not None else [],
            "year": None if pd.isna(year) else int(year),
        }
    return out


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))


def file_checksums(bundle_dir: Path) -> dict[str, str]:
    """sha256 of every regular file in the bundle (recursively) except the manifest itself."""
    return {
        str(p.relative_to(bundle_dir)): sha256_of(p)
        for p in sorted(bundle_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }
