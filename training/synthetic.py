"""Synthetic inputs in the contract schemas, for development and tests of the training step.

Writes under a data dir exactly what training reads from the batch layer: ``marts/dim_items``,
``marts/dim_users``, ``marts/fct_interactions``, ``embeddings/item_text_embeddings``,
``features/item_features/ds=<ds>/`` and ``training_sets/ds=<ds>/training_set.parquet`` with
point-in-time feature columns (each row's features computed only from strictly earlier events).

The interactions have structure a model can learn and a popularity baseline cannot fully
exploit: users have latent tastes (partly genre-driven), items have latent factors and a
Zipf popularity, and the text embedding is a noisy view of the item's factors.

    python -m training.synthetic --ds 2024-03-31 --users 1500 --items 1200 --interactions 100000
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lambdarec_contracts.features import (
    ITEM_STATS_VIEW,
    ITEM_TEXT_VIEW,
    RECENT_HISTORY_LEN,
    USER_STATS_VIEW,
)
from lambdarec_contracts.settings import BaseLambdarecSettings
from lambdarec_contracts.tables import (
    GENRES,
    ITEM_FEATURES_TABLE,
    POSITIVE_RATING,
    TRAINING_SET_FILE,
)

_REAL_GENRES = GENRES[:-1]
TEXT_DIM = 16
LATENT_DIM = 8


def generate(
    ds: str,
    n_users: int = 300,
    n_items: int = 200,
    n_interactions: int = 6000,
    days: int = 90,
    seed: int = 7,
) -> dict[str, pd.DataFrame]:
    """Return dim_items, dim_users, fct_interactions, text embeddings (pure, seeded)."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(ds, tz="UTC") + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=days)

    item_ids = [f"i{i:05d}" for i in range(n_items)]
    item_genres = [
        sorted(set(rng.choice(len(_REAL_GENRES), size=rng.integers(1, 4), replace=False).tolist()))
        for _ in range(n_items)
    ]
    genre_factors = rng.normal(size=(len(_REAL_GENRES), LATENT_DIM))
    item_factors = np.stack([genre_factors[g].mean(0) for g in item_genres]) * 0.7 + rng.normal(
        scale=0.7, size=(n_items, LATENT_DIM)
    )
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    rng.shuffle(popularity)
    years = rng.integers(1950, 2024, size=n_items)
    # Items appear over time: a few are released during the period (cold items).
    release = start + pd.to_timedelta(rng.uniform(-400, days * 0.9, size=n_items), unit="D")

    user_ids = [f"u{u:05d}" for u in range(n_users)]
    user_factors = rng.normal(size=(n_users, LATENT_DIM))
    activity = rng.lognormal(mean=0.0, sigma=0.8, size=n_users)
    per_user = np.maximum(3, np.round(activity / activity.sum() * n_interactions)).astype(int)
    per_user = np.minimum(per_user, int(n_items * 0.6))

    rows = []
    for u in range(n_users):
        n = int(per_user[u])
        ts = np.sort(rng.uniform(0, days, size=n))
        affinity = item_factors @ user_factors[u] / np.sqrt(LATENT_DIM)
        logits = 1.6 * affinity + np.log(popularity)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        chosen = rng.choice(n_items, size=n, replace=False, p=probs)
        for t, i in zip(ts, chosen, strict=True):
            when = start + pd.Timedelta(days=float(t))
            if when < release[i]:
                continue
            kind = rng.choice(["rating", "view", "click", "not_interested"], p=[0.75, 0.15, 0.08, 0.02])
            rating = None
            if kind == "rating":
                rating = float(np.clip(np.round(3.2 + 1.2 * affinity[i] + rng.normal(scale=0.8)), 1, 5))
            rows.append((user_ids[u], item_ids[i], rating, str(kind), when))
    fct = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "event_type", "event_ts"])
    fct = fct.sort_values(["event_ts", "user_id"]).reset_index(drop=True)
    fct["event_ts"] = fct["event_ts"].astype("datetime64[us, UTC]")
    fct["interaction_id"] = [f"x{i:08d}" for i in range(len(fct))]
    fct["event_date"] = fct["event_ts"].dt.date
    fct["is_positive"] = (fct["rating"].fillna(0) >= POSITIVE_RATING) | fct["event_type"].isin(
        ["click", "like"]
    )

    first_seen = fct.groupby("item_id")["event_ts"].min()
    dim_items = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": [f"Movie {i}" for i in range(n_items)],
            "genres": [[_REAL_GENRES[g] for g in gs] for gs in item_genres],
            "year": years.astype("int32"),
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
    dim_users = dim_users.reset_index()

    proj = rng.normal(size=(LATENT_DIM, TEXT_DIM)) / np.sqrt(LATENT_DIM)
    text = item_factors @ proj + rng.normal(scale=0.5, size=(n_items, TEXT_DIM))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    emb = pd.DataFrame(
        {
            "item_id": item_ids,
            "embedding": [row.astype(np.float32).tolist() for row in text],
            "embedding_model": "synthetic-text-16",
            "content_hash": [f"h{i}" for i in range(n_items)],
        }
    )
    return {"dim_items": dim_items, "dim_users": dim_users, "fct_interactions": fct, "embeddings": emb}


def point_in_time_features(fct: pd.DataFrame, dim_items: pd.DataFrame) -> pd.DataFrame:
    """One row per interaction with user/item features computed from strictly earlier events."""
    genres_of = dict(zip(dim_items["item_id"], dim_items["genres"], strict=True))
    year_of = dict(zip(dim_items["item_id"], dim_items["year"], strict=True))
    gidx = {g: k for k, g in enumerate(GENRES)}
    df = fct.sort_values("event_ts", kind="stable").reset_index(drop=True)
    ts = df["event_ts"].astype("int64").to_numpy() // 1_000_000  # seconds
    week, month = 7 * 86400, 30 * 86400

    user_cols: dict[str, list] = {
        k: [] for k in ("n7", "n30", "nt", "rm", "rs", "aff", "recent", "recent_pos")
    }
    item_cols: dict[str, list] = {k: [] for k in ("n7", "n30", "nt", "rm", "br")}
    # Running aggregates per user / item (events arrive in time order, so times lists stay sorted).
    u_state: dict[str, dict] = {}
    i_state: dict[str, dict] = {}
    g_sum, g_n = 0.0, 0
    for row_ts, u, i, r, pos in zip(
        ts, df["user_id"], df["item_id"], df["rating"], df["is_positive"], strict=True
    ):
        us = u_state.setdefault(
            u,
            {
                "t": [],
                "rs": 0.0,
                "rss": 0.0,
                "rn": 0,
                "aff": np.zeros(len(GENRES)),
                "np": 0,
                "items": [],
                "pos": [],
            },
        )
        n = len(us["t"])
        user_cols["n7"].append(n - bisect.bisect_right(us["t"], row_ts - week))
        user_cols["n30"].append(n - bisect.bisect_right(us["t"], row_ts - month))
        user_cols["nt"].append(n)
        if us["rn"]:
            mean = us["rs"] / us["rn"]
            user_cols["rm"].append(mean)
            user_cols["rs"].append(float(np.sqrt(max(us["rss"] / us["rn"] - mean * mean, 0.0))))
        else:
            user_cols["rm"].append(None)
            user_cols["rs"].append(None)
        user_cols["aff"].append((us["aff"] / max(us["np"], 1)).astype(np.float32).tolist())
        user_cols["recent"].append(us["items"][::-1][:RECENT_HISTORY_LEN])
        user_cols["recent_pos"].append(us["pos"][::-1][:RECENT_HISTORY_LEN])

        st = i_state.setdefault(i, {"t": [], "rs": 0.0, "rn": 0})
        m = len(st["t"])
        item_cols["n7"].append(m - bisect.bisect_right(st["t"], row_ts - week))
        item_cols["n30"].append(m - bisect.bisect_right(st["t"], row_ts - month))
        item_cols["nt"].append(m)
        gm = g_sum / g_n if g_n else 3.5
        item_cols["rm"].append(st["rs"] / st["rn"] if st["rn"] else None)
        item_cols["br"].append((st["rs"] + 10 * gm) / (st["rn"] + 10))

        rating = None if r is None or (isinstance(r, float) and np.isnan(r)) else float(r)
        us["t"].append(row_ts)
        us["items"].append(i)
        st["t"].append(row_ts)
        if rating is not None:
            us["rs"] += rating
            us["rss"] += rating * rating
            us["rn"] += 1
            st["rs"] += rating
            st["rn"] += 1
            g_sum += rating
            g_n += 1
        if pos:
            us["np"] += 1
            us["pos"].append(i)
            for g in genres_of.get(i, []):
                us["aff"][gidx[g]] += 1

    out = pd.DataFrame(
        {
            "user_id": df["user_id"],
            "item_id": df["item_id"],
            "event_timestamp": df["event_ts"],
            "rating": df["rating"],
            "event_type": df["event_type"],
            "label": df["is_positive"].astype("int64"),
        }
    )
    us, its = USER_STATS_VIEW, ITEM_STATS_VIEW
    out[f"{us}__n_interactions_7d"] = user_cols["n7"]
    out[f"{us}__n_interactions_30d"] = user_cols["n30"]
    out[f"{us}__n_interactions_total"] = user_cols["nt"]
    out[f"{us}__rating_mean"] = user_cols["rm"]
    out[f"{us}__rating_std"] = user_cols["rs"]
    out[f"{us}__genre_affinity"] = user_cols["aff"]
    out[f"{us}__recent_items"] = user_cols["recent"]
    out[f"{us}__recent_positive_items"] = user_cols["recent_pos"]
    out[f"{its}__n_interactions_7d"] = item_cols["n7"]
    out[f"{its}__n_interactions_30d"] = item_cols["n30"]
    out[f"{its}__n_interactions_total"] = item_cols["nt"]
    out[f"{its}__rating_mean"] = item_cols["rm"]
    out[f"{its}__bayes_rating"] = item_cols["br"]
    out[f"{its}__trending_score"] = np.log1p(np.array(item_cols["n7"], dtype=float))
    out[f"{its}__genres"] = df["item_id"].map(genres_of)
    out[f"{its}__year"] = df["item_id"].map(year_of).fillna(0).astype("int64")
    return out


def latest_item_features(fct: pd.DataFrame, dim_items: pd.DataFrame, ds: str) -> pd.DataFrame:
    """The item_features snapshot as of the end of ``ds`` (Spark table schema)."""
    end = pd.Timestamp(ds, tz="UTC") + pd.Timedelta(days=1)
    f = fct[fct["event_ts"] < end]
    cnt = f.groupby("item_id").size()
    c7 = f[f["event_ts"] >= end - pd.Timedelta(days=7)].groupby("item_id").size()
    c30 = f[f["event_ts"] >= end - pd.Timedelta(days=30)].groupby("item_id").size()
    rm = f.groupby("item_id")["rating"].mean()
    gm = float(f["rating"].mean())
    rsum = f.groupby("item_id")["rating"].sum()
    rcnt = f.groupby("item_id")["rating"].count()
    out = dim_items[["item_id", "genres"]].copy()
    ids = out["item_id"]
    out["n_interactions_7d"] = ids.map(c7).fillna(0).astype("int64")
    out["n_interactions_30d"] = ids.map(c30).fillna(0).astype("int64")
    out["n_interactions_total"] = ids.map(cnt).fillna(0).astype("int64")
    out["rating_mean"] = ids.map(rm)
    out["bayes_rating"] = ((ids.map(rsum).fillna(0) + 10 * gm) / (ids.map(rcnt).fillna(0) + 10)).astype(float)
    out["trending_score"] = np.log1p(out["n_interactions_7d"].to_numpy(dtype=float))
    out["year"] = dim_items["year"].fillna(0).astype("int64")
    out["cooc_items"] = [[] for _ in range(len(out))]
    out["event_timestamp"] = end - pd.Timedelta(microseconds=1)
    return out


def write(data_dir: Path, ds: str, **kwargs: int) -> dict[str, Path]:
    """Generate and write every training input for ``ds`` under ``data_dir``."""
    frames = generate(ds, **kwargs)
    marts = data_dir / "marts"
    marts.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ("dim_items", "dim_users", "fct_interactions"):
        paths[name] = marts / f"{name}.parquet"
        frames[name].to_parquet(paths[name], index=False)
    emb_dir = data_dir / "embeddings"
    emb_dir.mkdir(parents=True, exist_ok=True)
    paths["embeddings"] = emb_dir / "item_text_embeddings.parquet"
    frames["embeddings"].to_parquet(paths["embeddings"], index=False)
    ts = point_in_time_features(frames["fct_interactions"], frames["dim_items"])
    emb_map = dict(zip(frames["embeddings"]["item_id"], frames["embeddings"]["embedding"], strict=True))
    ts[f"{ITEM_TEXT_VIEW}__embedding"] = ts["item_id"].map(emb_map)
    end = pd.Timestamp(ds, tz="UTC") + pd.Timedelta(days=1)
    ts = ts[ts["event_timestamp"] < end]
    ts_dir = data_dir / "training_sets" / f"ds={ds}"
    ts_dir.mkdir(parents=True, exist_ok=True)
    paths["training_set"] = ts_dir / TRAINING_SET_FILE
    ts.to_parquet(paths["training_set"], index=False)
    feat_dir = data_dir / "features" / ITEM_FEATURES_TABLE / f"ds={ds}"
    feat_dir.mkdir(parents=True, exist_ok=True)
    paths["item_features"] = feat_dir / "part-00000.parquet"
    latest_item_features(frames["fct_interactions"], frames["dim_items"], ds).to_parquet(
        paths["item_features"], index=False
    )
    return paths


def frames_from_movielens(raw_dir: Path) -> dict[str, pd.DataFrame]:
    """dim_items and fct_interactions from MovieLens-format CSVs (ratings.csv, movies.csv), the
    way the dbt marts shape them (a dev shortcut that skips ingest/dbt/Spark/Feast)."""
    ratings = pd.read_csv(raw_dir / "ratings.csv").drop_duplicates()
    movies = pd.read_csv(raw_dir / "movies.csv")
    desc_path = raw_dir / "item_descriptions.csv"
    desc = pd.read_csv(desc_path) if desc_path.exists() else pd.DataFrame(columns=["movieId", "description"])
    years = movies["title"].str.extract(r"\((\d{4})\)\s*$")[0]
    aliases = {"Children's": "Children", "(no genres listed)": "(other)", "unknown": "(other)"}
    dim_items = pd.DataFrame(
        {
            "item_id": movies["movieId"].astype(str),
            "title": movies["title"].str.replace(r"\s*\(\d{4}\)\s*$", "", regex=True),
            "genres": [
                [aliases.get(g, g if g in GENRES else "(other)") for g in str(gs).split("|") if g]
                or ["(other)"]
                for gs in movies["genres"].fillna("")
            ],
            "year": pd.to_numeric(years, errors="coerce").astype("Int32"),
            "tags": "",
            "description": movies["movieId"]
            .map(dict(zip(desc["movieId"], desc["description"], strict=True)))
            .fillna(""),
        }
    )
    fct = pd.DataFrame(
        {
            "user_id": ratings["userId"].astype(str),
            "item_id": ratings["movieId"].astype(str),
            "rating": ratings["rating"].astype(float),
            "event_type": "rating",
            "event_ts": pd.to_datetime(ratings["timestamp"], unit="s", utc=True).astype(
                "datetime64[us, UTC]"
            ),
        }
    ).sort_values(["event_ts", "user_id"], kind="stable")
    fct = fct.reset_index(drop=True)
    fct["interaction_id"] = [f"x{i:08d}" for i in range(len(fct))]
    fct["event_date"] = fct["event_ts"].dt.date
    fct["is_positive"] = fct["rating"] >= POSITIVE_RATING
    dim_items["first_seen_ts"] = dim_items["item_id"].map(fct.groupby("item_id")["event_ts"].min())
    return {"dim_items": dim_items, "fct_interactions": fct}


def write_from_movielens(raw_dir: Path, data_dir: Path, ds: str) -> dict[str, Path]:
    """Marts, item features and a point-in-time training set from MovieLens-format files.

    Text embeddings are not made here: run ``jobs.embeddings`` (embed env) on the written marts.
    """
    frames = frames_from_movielens(raw_dir)
    marts = data_dir / "marts"
    marts.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ("dim_items", "fct_interactions"):
        paths[name] = marts / f"{name}.parquet"
        frames[name].to_parquet(paths[name], index=False)
    end = pd.Timestamp(ds, tz="UTC") + pd.Timedelta(days=1)
    ts = point_in_time_features(frames["fct_interactions"], frames["dim_items"])
    ts = ts[ts["event_timestamp"] < end]
    ts_dir = data_dir / "training_sets" / f"ds={ds}"
    ts_dir.mkdir(parents=True, exist_ok=True)
    paths["training_set"] = ts_dir / TRAINING_SET_FILE
    ts.to_parquet(paths["training_set"], index=False)
    feat_dir = data_dir / "features" / ITEM_FEATURES_TABLE / f"ds={ds}"
    feat_dir.mkdir(parents=True, exist_ok=True)
    paths["item_features"] = feat_dir / "part-00000.parquet"
    latest_item_features(frames["fct_interactions"], frames["dim_items"], ds).to_parquet(
        paths["item_features"], index=False
    )
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.synthetic", description=__doc__.splitlines()[0])
    p.add_argument("--ds", required=True, type=lambda s: dt.date.fromisoformat(s).isoformat())
    p.add_argument("--users", type=int, default=1500)
    p.add_argument("--items", type=int, default=1200)
    p.add_argument("--interactions", type=int, default=100_000)
    p.add_argument("--days", type=int, default=120)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--from-movielens", type=Path, help="convert MovieLens-format CSVs instead of generating")
    a = p.parse_args(argv)
    settings = BaseLambdarecSettings()
    if a.from_movielens:
        for name, path in write_from_movielens(a.from_movielens, settings.data_dir, a.ds).items():
            print(f"{name}: {path}")
        return 0
    paths = write(
        settings.data_dir,
        a.ds,
        n_users=a.users,
        n_items=a.items,
        n_interactions=a.interactions,
        days=a.days,
        seed=a.seed,
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
