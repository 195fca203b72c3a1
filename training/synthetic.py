"""Synthetic marts and text embeddings in the contract schemas (seeded, pandas only).

Only the *inputs* of the batch layer: ``dim_items``, ``dim_users``, ``fct_interactions`` and item
text embeddings. Features and training sets are never computed here: they come from the real
feature code (Spark transforms, Feast point-in-time join) run on these marts by
``python -m testing_support.training_inputs`` (pipeline env), which the training tests use.

The interactions have structure a model can learn and a popularity baseline cannot fully
exploit: users have latent tastes (partly genre-driven), items have latent factors and a
Zipf popularity, and the text embedding is a noisy view of the item's factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lambdarec_contracts.events import is_positive
from lambdarec_contracts.tables import GENRES

_REAL_GENRES = GENRES[:-1]
TEXT_DIM = 16
LATENT_DIM = 8


@dataclass(frozen=True)
class _Items:
    ids: list[str]
    genres: list[list[int]]  # indices into _REAL_GENRES
    factors: np.ndarray  # [n_items, LATENT_DIM]
    popularity: np.ndarray  # Zipf weights, shuffled
    years: np.ndarray
    release: pd.DatetimeIndex  # an item has no interaction before it


@dataclass(frozen=True)
class _Users:
    ids: list[str]
    factors: np.ndarray  # [n_users, LATENT_DIM]
    n_interactions: np.ndarray  # per user


def _items(rng: np.random.Generator, n_items: int, start: pd.Timestamp, days: int) -> _Items:
    """Genre-driven latent factors, a Zipf popularity and release dates (a few during the period)."""
    genres = [
        sorted(set(rng.choice(len(_REAL_GENRES), size=rng.integers(1, 4), replace=False).tolist()))
        for _ in range(n_items)
    ]
    genre_factors = rng.normal(size=(len(_REAL_GENRES), LATENT_DIM))
    factors = np.stack([genre_factors[g].mean(0) for g in genres]) * 0.7 + rng.normal(
        scale=0.7, size=(n_items, LATENT_DIM)
    )
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    rng.shuffle(popularity)
    years = rng.integers(1950, 2024, size=n_items)
    release = start + pd.to_timedelta(rng.uniform(-400, days * 0.9, size=n_items), unit="D")
    ids = [f"i{i:05d}" for i in range(n_items)]
    return _Items(ids, genres, factors, popularity, years, release)


def _users(rng: np.random.Generator, n_users: int, n_items: int, n_interactions: int) -> _Users:
    """Latent tastes and a log-normal activity (at least 3, at most 60 % of the catalogue each)."""
    factors = rng.normal(size=(n_users, LATENT_DIM))
    activity = rng.lognormal(mean=0.0, sigma=0.8, size=n_users)
    per_user = np.maximum(3, np.round(activity / activity.sum() * n_interactions)).astype(int)
    per_user = np.minimum(per_user, int(n_items * 0.6))
    return _Users([f"u{u:05d}" for u in range(n_users)], factors, per_user)


def _interactions(
    rng: np.random.Generator, items: _Items, users: _Users, start: pd.Timestamp, days: int
) -> pd.DataFrame:
    """fct_interactions: each user picks items by taste and popularity, ratings follow the taste."""
    rows = []
    for u in range(len(users.ids)):
        n = int(users.n_interactions[u])
        ts = np.sort(rng.uniform(0, days, size=n))
        affinity = items.factors @ users.factors[u] / np.sqrt(LATENT_DIM)
        logits = 1.6 * affinity + np.log(items.popularity)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        chosen = rng.choice(len(items.ids), size=n, replace=False, p=probs)
        for t, i in zip(ts, chosen, strict=True):
            when = start + pd.Timedelta(days=float(t))
            if when < items.release[i]:
                continue
            kind = rng.choice(["rating", "view", "click", "not_interested"], p=[0.75, 0.15, 0.08, 0.02])
            rating = None
            if kind == "rating":
                rating = float(np.clip(np.round(3.2 + 1.2 * affinity[i] + rng.normal(scale=0.8)), 1, 5))
            rows.append((users.ids[u], items.ids[i], rating, str(kind), when))
    fct = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "event_type", "event_ts"])
    fct = fct.sort_values(["event_ts", "user_id"]).reset_index(drop=True)
    fct["event_ts"] = fct["event_ts"].astype("datetime64[us, UTC]")
    fct["interaction_id"] = [f"x{i:08d}" for i in range(len(fct))]
    fct["event_date"] = fct["event_ts"].dt.date
    fct["is_positive"] = [  # what dbt's fct_interactions computes, by the contract's rule
        is_positive(t, None if pd.isna(r) else float(r))
        for t, r in zip(fct["event_type"], fct["rating"], strict=True)
    ]
    return fct


def _dims(items: _Items, fct: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """dim_items and dim_users as dbt's marts leave them (genres canonical, first/last seen)."""
    first_seen = fct.groupby("item_id")["event_ts"].min()
    dim_items = pd.DataFrame(
        {
            "item_id": items.ids,
            "title": [f"Movie {i}" for i in range(len(items.ids))],
            "genres": [[_REAL_GENRES[g] for g in gs] for gs in items.genres],
            "year": items.years.astype("int32"),
            "tags": "",
            "description": "",
        }
    )
    dim_items["first_seen_ts"] = dim_items["item_id"].map(first_seen).astype("datetime64[us, UTC]")
    dim_users = fct.groupby("user_id").agg(
        first_seen_ts=("event_ts", "min"),
        last_seen_ts=("event_ts", "max"),
        n_interactions=("item_id", "size"),
    )
    return dim_items, dim_users.reset_index()


def _text_embeddings(rng: np.random.Generator, items: _Items) -> pd.DataFrame:
    """Unit text vectors: a noisy projection of the items' latent factors."""
    proj = rng.normal(size=(LATENT_DIM, TEXT_DIM)) / np.sqrt(LATENT_DIM)
    text = items.factors @ proj + rng.normal(scale=0.5, size=(len(items.ids), TEXT_DIM))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "item_id": items.ids,
            "embedding": [row.astype(np.float32).tolist() for row in text],
            "embedding_model": "synthetic-text-16",
            "content_hash": [f"h{i}" for i in range(len(items.ids))],
        }
    )


def generate(
    ds: str,
    n_users: int = 300,
    n_items: int = 200,
    n_interactions: int = 6000,
    days: int = 90,
    seed: int = 7,
) -> dict[str, pd.DataFrame]:
    """Return dim_items, dim_users, fct_interactions, text embeddings (pure, seeded).

    The steps draw from one generator in a fixed order: items, users, interactions, text.
    """
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(ds, tz="UTC") + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=days)
    items = _items(rng, n_items, start, days)
    users = _users(rng, n_users, n_items, n_interactions)
    fct = _interactions(rng, items, users, start, days)
    dim_items, dim_users = _dims(items, fct)
    emb = _text_embeddings(rng, items)
    return {"dim_items": dim_items, "dim_users": dim_users, "fct_interactions": fct, "embeddings": emb}
