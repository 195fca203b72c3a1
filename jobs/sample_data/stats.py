"""Statistics of a ratings file, to compare a generated sample with published MovieLens figures.

    python -m jobs.sample_data.stats DIR      # DIR holds ratings.csv (ml-latest layout)

Prints the distribution statistics of the README table and Recall@10 of cheap baselines on a
per-user temporal 80/20 split (each user's first 80 % of ratings by time to train, the rest
held out), the split the issue's real-data figures were measured on. numpy only, so it runs in
seconds on the small preset and in about a minute on the 1m one.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv

DAY = 86_400


@dataclass
class Ratings:
    user: np.ndarray  # dense 0-based user codes
    item: np.ndarray  # dense 0-based item codes
    rating: np.ndarray
    ts: np.ndarray
    n_users: int
    n_items: int
    item_ids: np.ndarray  # movieId of each item code


def load(raw_dir: Path) -> Ratings:
    """ratings.csv of ``raw_dir`` with exact duplicate rows dropped, ids recoded densely."""
    t = pacsv.read_csv(raw_dir / "ratings.csv").to_pandas()
    t = t.drop_duplicates().dropna()
    users, u = np.unique(t["userId"].to_numpy(np.int64), return_inverse=True)
    items, i = np.unique(t["movieId"].to_numpy(np.int64), return_inverse=True)
    return Ratings(
        u,
        i,
        t["rating"].to_numpy(np.float64),
        t["timestamp"].to_numpy(np.int64),
        len(users),
        len(items),
        items,
    )


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0 = all equal, -> 1 = one item takes everything)."""
    c = np.sort(np.asarray(counts, dtype=np.float64))
    n = len(c)
    if n == 0 or c.sum() == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1).dot(c) / (n * c.sum()))


def top_share(counts: np.ndarray, fraction: float) -> float:
    """Share of all ratings that go to the top ``fraction`` of items (at least one item)."""
    c = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    k = max(1, int(round(fraction * len(c))))
    return float(c[:k].sum() / c.sum())


def first_day_share(r: Ratings, start_ts: int) -> float:
    """Median, over users whose first rating is a week or more into the data, of the share of
    their ratings made within a day of their first one (the sign-up burst)."""
    order = np.lexsort((r.ts, r.user))
    u, ts = r.user[order], r.ts[order]
    first = np.searchsorted(u, np.arange(r.n_users))
    t0 = ts[first]
    within = ts < t0[u] + DAY
    share = np.bincount(u, weights=within, minlength=r.n_users) / np.bincount(u, minlength=r.n_users)
    joined_inside = t0 >= start_ts + 7 * DAY
    return float(np.median(share[joined_inside])) if joined_inside.any() else float("nan")


def drift(r: Ratings, days: int = 30) -> dict[str, float]:
    """How much the popular items change between the first and the last ``days`` of the data."""
    t_lo, t_hi = r.ts.min(), r.ts.max()
    early = np.bincount(r.item[r.ts < t_lo + days * DAY], minlength=r.n_items)
    late = np.bincount(r.item[r.ts > t_hi - days * DAY], minlength=r.n_items)
    top_e, top_l = set(np.argsort(-early)[:20].tolist()), set(np.argsort(-late)[:20].tolist())
    return {
        "top20_overlap": len(top_e & top_l) / 20,
        "late_share_of_items_unrated_early": float(late[early == 0].sum() / max(late.sum(), 1)),
        "rank_corr": float(np.corrcoef(np.argsort(np.argsort(early)), np.argsort(np.argsort(late)))[0, 1]),
    }


def genre_drift(r: Ratings, raw_dir: Path, days: int = 30) -> float:
    """Total-variation distance between the genre shares of the first and the last ``days``
    (an item's rating counts 1/len(genres) for each of its genres)."""
    movies = pacsv.read_csv(raw_dir / "movies.csv").to_pandas().drop_duplicates("movieId")
    by_id = dict(zip(movies["movieId"].to_numpy(np.int64), movies["genres"].astype(str), strict=True))
    names = sorted({g for gs in by_id.values() for g in gs.split("|")})
    col = {g: j for j, g in enumerate(names)}
    m = np.zeros((r.n_items, len(names)))
    for code, movie_id in enumerate(r.item_ids):
        gs = by_id.get(int(movie_id), "(no genres listed)").split("|")
        m[code, [col.get(g, 0) for g in gs]] = 1.0 / len(gs)
    t_lo, t_hi = r.ts.min(), r.ts.max()
    early = m[r.item[r.ts < t_lo + days * DAY]].sum(axis=0)
    late = m[r.item[r.ts > t_hi - days * DAY]].sum(axis=0)
    return float(0.5 * np.abs(early / early.sum() - late / late.sum()).sum())


def temporal_split(r: Ratings, train_share: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Masks (train, test): each user's first ``train_share`` of ratings by time, and the rest."""
    order = np.lexsort((r.item, r.ts, r.user))
    counts = np.bincount(r.user, minlength=r.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(order)) - starts[r.user[order]]
    n_train = np.ceil(train_share * counts).astype(np.int64)
    train = np.zeros(len(order), dtype=bool)
    train[order] = rank < n_train[r.user[order]]
    return train, ~train


def _top_k(scores: np.ndarray, seen: np.ndarray, k: int) -> np.ndarray:
    scores = np.where(seen, -np.inf, scores)
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    rows = np.arange(len(scores))[:, None]
    return top[rows, np.argsort(-scores[rows, top], axis=1)]


def recall_at_k(
    r: Ratings, score_fn, train: np.ndarray, test: np.ndarray, k: int = 10, chunk: int = 1024
) -> float:
    """Mean over users with held-out items of |top-k ∩ held-out| / |held-out| (training items excluded)."""
    seen_u, seen_i = r.user[train], r.item[train]
    test_u, test_i = r.user[test], r.item[test]
    n_test = np.bincount(test_u, minlength=r.n_users)
    users = np.flatnonzero(n_test > 0)
    total = 0.0
    for lo in range(0, len(users), chunk):
        rows = users[lo : lo + chunk]
        seen = np.zeros((len(rows), r.n_items), dtype=bool)
        pos = np.full(r.n_users, -1)
        pos[rows] = np.arange(len(rows))
        m = pos[seen_u] >= 0
        seen[pos[seen_u[m]], seen_i[m]] = True
        held = np.zeros_like(seen)
        m = pos[test_u] >= 0
        held[pos[test_u[m]], test_i[m]] = True
        top = _top_k(score_fn(rows), seen, k)
        hits = held[np.arange(len(rows))[:, None], top].sum(axis=1)
        total += float((hits / n_test[rows]).sum())
    return total / len(users)


def baselines(r: Ratings, seed: int = 0, k: int = 10) -> dict[str, float]:
    """Recall@k of random, most-popular, best-mean-rating and item-kNN on the temporal split."""
    train, test = temporal_split(r)
    counts = np.bincount(r.item[train], minlength=r.n_items).astype(np.float64)
    sums = np.bincount(r.item[train], weights=r.rating[train], minlength=r.n_items)
    # Mean rating with a little shrinkage to the global mean, so one 5-star rating is not "best".
    mean = (sums + 5 * r.rating[train].mean()) / (counts + 5)
    x = np.zeros((r.n_users, r.n_items), dtype=np.float32)
    x[r.user[train], r.item[train]] = 1.0
    norm = np.sqrt(np.maximum(counts, 1)).astype(np.float32)
    sim = (x.T @ x) / norm[:, None] / norm[None, :]
    np.fill_diagonal(sim, 0.0)
    rng = np.random.default_rng(seed)
    scorers = {
        "random": lambda rows: rng.random((len(rows), r.n_items)),
        "most_popular": lambda rows: np.broadcast_to(counts, (len(rows), r.n_items)),
        "best_rated": lambda rows: np.broadcast_to(mean, (len(rows), r.n_items)),
        "item_knn": lambda rows: x[rows] @ sim,
    }
    return {name: recall_at_k(r, fn, train, test, k) for name, fn in scorers.items()}


def distribution(r: Ratings, start_ts: int | None = None) -> dict[str, float]:
    """The distribution statistics of the README table."""
    per_user = np.bincount(r.user, minlength=r.n_users)
    per_item = np.bincount(r.item, minlength=r.n_items)
    halves = np.bincount(np.clip(np.round(r.rating * 2).astype(np.int64), 0, 10), minlength=11)
    start = int(r.ts.min()) if start_ts is None else start_ts
    out = {
        "users": float(r.n_users),
        "items": float(r.n_items),
        "ratings": float(len(r.user)),
        "user_min": float(per_user.min()),
        "user_median": float(np.median(per_user)),
        "user_mean": float(per_user.mean()),
        "user_max": float(per_user.max()),
        "user_median_over_mean": float(np.median(per_user) / per_user.mean()),
        "item_gini": gini(per_item),
        "top1pct_item_share": top_share(per_item, 0.01),
        "items_below_mean_share": float((per_item < per_item.mean()).mean()),
        "rating_mean": float(r.rating.mean()),
        "rating_sd": float(r.rating.std()),
        "share_4_and_up": float((r.rating >= 4).mean()),
        "share_2_and_below": float((r.rating <= 2).mean()),
        "mode_rating": float(np.argmax(halves) / 2),
        "first_day_share_median": first_day_share(r, start),
    }
    out.update({f"drift_{k}": v for k, v in drift(r).items()})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.sample_data.stats", description=__doc__.splitlines()[0])
    ap.add_argument("raw_dir", type=Path)
    ap.add_argument("--no-baselines", action="store_true", help="skip the Recall@10 baselines")
    args = ap.parse_args(argv)
    if not (args.raw_dir / "ratings.csv").exists():
        print(f"error: {args.raw_dir}/ratings.csv not found", file=sys.stderr)
        return 2
    r = load(args.raw_dir)
    rows = distribution(r)
    if (args.raw_dir / "movies.csv").exists():
        rows["drift_genre_tv_distance"] = genre_drift(r, args.raw_dir)
    if not args.no_baselines:
        rows.update({f"recall@10_{k}": v for k, v in baselines(r).items()})
    for name, value in rows.items():
        print(f"{name:36s} {value:12.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
