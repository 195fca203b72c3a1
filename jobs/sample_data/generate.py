"""The catalogue and the users of the sample: who exists, what they like, how active they are.

What people then watch and rate, and when, is in ``jobs.sample_data.activity``. The model:
- items have 1-4 genres, a *taste cluster* (a sub-group of their first genre: people who like
  one item of a cluster like the others, which is what item-to-item CF learns), a latent
  quality, a log-normal base popularity that is only weakly tied to quality, a popularity trend
  over the window and a release week (a fifth are released during the window: their popularity
  peaks on release and decays);
- users have a few taste clusters with Dirichlet weights, a "mainstream" share of attention that
  goes to the popularity chart instead of their niches, a rating bias, an activity level (20 +
  a log-normal excess: the heavy tail of MovieLens users) and a sign-up time; most users sign up
  inside the window and rate a burst on their first day, a minority were members already.

Every random stream is seeded from (seed, stream, chunk) so chunks are reproducible on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from jobs.sample_data.spec import SampleSpec
from jobs.sample_data.words import (
    ADJECTIVES,
    GENERIC_THEMES,
    GENRE_WEIGHTS,
    NAMES,
    NOUNS,
    OCCUPATIONS,
    THEMES,
    TONES,
)

GENRE_NAMES = tuple(GENRE_WEIGHTS)
GENRE_PRIOR = np.array([GENRE_WEIGHTS[g] for g in GENRE_NAMES]) / sum(GENRE_WEIGHTS.values())
NO_GENRES = "(no genres listed)"
DAY = 86_400
WEEK = 7 * DAY

# Random streams (the second seed word), so adding a stream never shifts another.
_CATALOGUE, _USERS, _RATINGS, _TAGS = 1, 2, 3, 4

_CLUSTER_SIZE = 80  # items per taste cluster, about
_POPULARITY_SIGMA = 1.9  # log-normal spread of base popularity (item Gini ~0.63 after exposure)
_CLUSTER_POP_SIGMA = 1.2  # log-normal popularity of whole clusters
_CLUSTER_CHOICE_EXP = 0.7  # users pick taste clusters by popularity ** this
_QUALITY_IN_POPULARITY = 0.8  # popular items are a little better on average, not by much
_NEW_RELEASE_SHARE = 0.2
_ITEM_TREND_SD = 0.7  # log-popularity change of a back-catalogue item over the window
_TASTE_CLUSTERS_MIN = 3  # taste clusters of a light user; one more per _RATINGS_PER_CLUSTER ratings
_RATINGS_PER_CLUSTER = 40
_TASTE_CLUSTERS = 12  # at most # clusters per user (Dirichlet-weighted, so two or three dominate)
_TASTE_CONCENTRATION = 0.3
_TASTE_DRIFT = 0.9  # share of the cluster weights that moves between sign-up and the end
_MAINSTREAM_BETA = (1.2, 10.0)  # share of picks from the popularity chart: mean ~0.11
_EXISTING_USERS = 0.3  # members before the window starts: no sign-up burst inside it
_ACTIVITY_SIGMA = 1.3  # log-normal sigma of ratings beyond the minimum (LensKit fits: 1.4-1.6)
_MIN_RATINGS = 20  # every MovieLens user has >= 20 ratings


def rng_for(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, chunk])


@dataclass
class Catalogue:
    movie_ids: np.ndarray  # int64, sorted, sparse (like ml-latest)
    titles: list[str]  # "Name (YEAR)"; one deliberate anomaly has no year
    genres: list[list[str]]  # genre names; two deliberate anomalies have none
    genre_matrix: np.ndarray  # [n_items, n_genres], rows sum to 1 (0 for no genres)
    years: np.ndarray  # int64, 0 when the title has no year
    release_ts: np.ndarray  # int64 unix seconds, on a week boundary of the window: no rating before
    quality: np.ndarray  # float64
    popularity: np.ndarray  # float64 base popularity, sums to 1
    cluster: np.ndarray  # int64 taste cluster of each item
    n_clusters: int
    cluster_genres: np.ndarray  # [n_clusters, n_genres]: genre profile of each cluster
    trend: np.ndarray  # float64 log-popularity change over the window (back catalogue)
    themes: list[list[str]]
    descriptions: list[str]
    imdb_ids: np.ndarray
    tmdb_ids: np.ndarray  # 0 = missing (written empty, as in ml-latest)

    @property
    def n(self) -> int:
        return len(self.movie_ids)


@dataclass
class Users:
    user_ids: np.ndarray  # int64, 1..n
    clusters: np.ndarray  # [n_users, _TASTE_CLUSTERS] int64 taste clusters
    weights: np.ndarray  # [n_users, _TASTE_CLUSTERS] their weights at sign-up, rows sum to 1
    weights_late: np.ndarray  # the weights at the user's end: taste drifts linearly in between
    taste: np.ndarray  # [n_users, n_genres] genre taste implied by the clusters, rows sum to 1
    mainstream: np.ndarray  # share of a user's picks that follow the popularity chart
    bias: np.ndarray
    signup_ts: np.ndarray  # sign-up (first rating) for new users; window start for existing ones
    existing: np.ndarray  # bool: a member before the window (no sign-up burst)
    first_share: np.ndarray  # share of a new user's ratings made on the sign-up day
    end_ts: np.ndarray  # last moment the user is active (window end unless churned)
    n_ratings: np.ndarray  # target number of distinct items rated
    whole_stars: np.ndarray  # bool: rates in whole stars only
    gender: list[str]
    age: np.ndarray
    occupation: list[str]
    zip_code: list[str]

    @property
    def n(self) -> int:
        return len(self.user_ids)

    def weights_at(self, u: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Cluster weights of users ``u`` at times ``ts`` (between sign-up and end)."""
        span = np.maximum(self.end_ts[u] - self.signup_ts[u], 1)
        lam = np.clip((ts - self.signup_ts[u]) / span, 0.0, 1.0)[:, None]
        return (1.0 - lam) * self.weights[u] + lam * self.weights_late[u]

    def match(self, u: np.ndarray, clusters: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Taste match of users ``u`` with items of ``clusters`` at ``ts``, in [0, 1] (1 = favourite)."""
        out = np.empty(len(u))
        for s in range(0, len(u), 200_000):  # slices bound the [n, clusters-per-user] temporaries
            uu, cc = u[s : s + 200_000], clusters[s : s + 200_000]
            w = self.weights_at(uu, ts[s : s + 200_000])
            out[s : s + 200_000] = np.where(self.clusters[uu] == cc[:, None], w, 0.0).sum(axis=1) / w.max(
                axis=1
            )
        return out


def _unique_title(rng: np.random.Generator, themes: list[str], year: int | None, taken: set[str]) -> str:
    """A new title from the word lists; the year suffix is part of what must be unique."""
    for attempt in range(100):
        adj = ADJECTIVES[rng.integers(len(ADJECTIVES))]
        noun = NOUNS[rng.integers(len(NOUNS))]
        noun2 = NOUNS[rng.integers(len(NOUNS))]
        theme = themes[rng.integers(len(themes))].title() if themes else noun2
        name = NAMES[rng.integers(len(NAMES))]
        pattern = int(rng.integers(8))
        base = (
            f"The {adj} {noun}",
            f"{noun} of the {noun2}",
            f"{name}'s {noun}",
            f"{adj} {noun}s",
            f"{adj} {noun}, The",  # MovieLens' article-last style, a comma inside the title
            f"{adj} {noun} {2 + int(rng.integers(4))}",
            f"{adj} {noun}: {theme}",
            f"{name} and the {theme}",
        )[pattern]
        if attempt >= 50:
            base += f" {attempt}"
        title = base if year is None else f"{base} ({year})"
        if title not in taken:
            taken.add(title)
            return title
    raise RuntimeError("could not find a unique title")  # not reachable with these word lists


def _cluster_layout(n: int) -> np.ndarray:
    """Number of taste clusters per genre: about one per ``_CLUSTER_SIZE`` items of that first genre."""
    return np.maximum(1, np.round(n * GENRE_PRIOR / _CLUSTER_SIZE)).astype(np.int64)


def make_catalogue(spec: SampleSpec) -> Catalogue:
    """Items with genres, taste clusters, years, release weeks, quality, popularity, titles and texts."""
    rng = rng_for(spec.seed, _CATALOGUE)
    n, g = spec.items, len(GENRE_NAMES)
    movie_ids = np.sort(rng.choice(np.arange(1, int(n * 1.25) + 2), size=n, replace=False)).astype(np.int64)

    # 1-4 genres per item, drawn without replacement by genre share (Gumbel top-k).
    k = rng.choice([1, 2, 3, 4], size=n, p=[0.35, 0.35, 0.2, 0.1])
    keys = np.log(GENRE_PRIOR)[None, :] + rng.gumbel(size=(n, g))
    order = np.argsort(-keys, axis=1)
    genre_idx = [list(order[i, : k[i]]) for i in range(n)]
    # The taste cluster is a sub-group of the first genre: clusters of one genre share it, so
    # genres carry part of the taste signal, the cluster the rest.
    per_genre = _cluster_layout(n)
    offsets = np.concatenate([[0], np.cumsum(per_genre)[:-1]])
    first = order[:, 0]
    cluster = (offsets[first] + np.floor(rng.random(n) * per_genre[first])).astype(np.int64)
    n_clusters = int(per_genre.sum())

    anomalies = rng.choice(n, size=3, replace=False) if n >= 50 else np.array([], dtype=int)
    no_genre_items, no_year_items = set(anomalies[:2].tolist()), set(anomalies[2:].tolist())
    for i in no_genre_items:
        genre_idx[i] = []
    genre_matrix = np.zeros((n, g))
    for i, idx in enumerate(genre_idx):
        if idx:
            genre_matrix[i, idx] = 1.0 / len(idx)
    cluster_genres = np.zeros((n_clusters, g))
    np.add.at(cluster_genres, cluster, genre_matrix)
    cluster_genres /= np.maximum(cluster_genres.sum(axis=1, keepdims=True), 1e-12)

    # New releases come out on a week boundary of the window (weekly popularity rows start there).
    weeks = max(1, -(-spec.days // 7))
    new = rng.random(n) < _NEW_RELEASE_SHARE
    release_week = np.where(new, rng.integers(1, max(2, weeks - 1), size=n), 0)
    release_ts = (spec.start_ts + release_week * WEEK).astype(np.int64)
    old_years = spec.start.year - 1 - np.floor(rng.exponential(12.0, size=n)).astype(np.int64)
    new_years = np.array([datetime.fromtimestamp(int(t), UTC).year for t in release_ts])
    years = np.where(new, new_years, np.maximum(old_years, 1915)).astype(np.int64)

    quality = rng.normal(0.0, 0.45, size=n)
    # Log-normal base popularity (a long tail with a broad head), only weakly tied to quality:
    # what people watch is mostly not what they would rate best.
    popularity = np.exp(_POPULARITY_SIGMA * rng.normal(size=n) + _QUALITY_IN_POPULARITY * quality)
    # Some taste clusters are mainstream (their items are watched by many), most are niches.
    popularity *= np.exp(_CLUSTER_POP_SIGMA * rng.normal(size=n_clusters))[cluster]
    popularity /= popularity.sum()
    trend = np.where(new, 0.0, rng.normal(0.0, _ITEM_TREND_SD, size=n))

    titles: list[str] = []
    themes: list[list[str]] = []
    descriptions: list[str] = []
    genres: list[list[str]] = []
    taken: set[str] = set()
    for i in range(n):
        names = [GENRE_NAMES[j] for j in genre_idx[i]]
        pool = sorted({w for name in names for w in THEMES[name]}) or list(GENERIC_THEMES)
        chosen = [pool[j] for j in rng.choice(len(pool), size=min(3, len(pool)), replace=False)]
        year = None if i in no_year_items else int(years[i])
        titles.append(_unique_title(rng, chosen, year, taken))
        tone = TONES[rng.integers(len(TONES))]
        kind = "/".join(names) if names else "genre-defying"
        descriptions.append(f"A {tone} {kind} film about {', '.join(chosen[:-1])} and {chosen[-1]}.")
        themes.append(chosen)
        genres.append(names)
    years[list(no_year_items)] = 0

    imdb_ids = rng.choice(np.arange(10_000, 9_999_999), size=n, replace=False).astype(np.int64)
    tmdb_ids = np.where(rng.random(n) < 0.01, 0, rng.integers(2, 900_000, size=n)).astype(np.int64)
    return Catalogue(
        movie_ids=movie_ids,
        titles=titles,
        genres=genres,
        genre_matrix=genre_matrix,
        years=years,
        release_ts=release_ts,
        quality=quality,
        popularity=popularity,
        cluster=cluster,
        n_clusters=n_clusters,
        cluster_genres=cluster_genres,
        trend=trend,
        themes=themes,
        descriptions=descriptions,
        imdb_ids=imdb_ids,
        tmdb_ids=tmdb_ids,
    )


def _spread(weights: np.ndarray, total: int, floor: int, cap: int) -> np.ndarray:
    """Integer counts >= floor and <= cap, proportional to weights, summing to total when it fits."""
    n = len(weights)
    counts = np.full(n, floor, dtype=np.int64)
    free = np.ones(n, dtype=bool)
    remaining = total - counts.sum()
    for _ in range(10):
        if remaining <= 0 or not free.any():
            break
        share = weights * free
        raw = remaining * share / share.sum()
        add = np.floor(raw).astype(np.int64)
        left = int(remaining - add.sum())
        if left > 0:  # largest remainders get the last units
            add[np.argsort(-(raw - add), kind="stable")[:left]] += 1
        counts += add
        over = counts > cap
        remaining = int((counts[over] - cap).sum())
        counts[over] = cap
        free &= ~over
    return counts


def _taste_clusters(rng: np.random.Generator, catalogue: Catalogue, n: int) -> np.ndarray:
    """``_TASTE_CLUSTERS`` distinct clusters per user, popular clusters more likely.

    Drawn one column at a time from the cluster CDF, redrawing repeats: sampling without
    replacement, in O(users x width) rather than O(users x clusters).
    """
    mass = np.bincount(catalogue.cluster, weights=catalogue.popularity, minlength=catalogue.n_clusters)
    weight = mass**_CLUSTER_CHOICE_EXP
    cdf = np.cumsum(weight) / weight.sum()
    width = int(min(_TASTE_CLUSTERS, (weight > 0).sum()))
    out = np.full((n, width), -1, dtype=np.int64)
    for j in range(width):
        todo = np.arange(n)
        for _ in range(50):
            c = np.minimum(np.searchsorted(cdf, rng.random(len(todo)), side="right"), len(cdf) - 1)
            repeat = (out[todo, :j] == c[:, None]).any(axis=1) | (weight[c] == 0)
            out[todo[~repeat], j] = c[~repeat]
            todo = todo[repeat]
            if len(todo) == 0:
                break
        for row in todo:  # a few users whose first picks took all the big clusters
            free = np.setdiff1d(np.flatnonzero(weight > 0), out[row, :j])
            out[row, j] = free[rng.integers(len(free))]
    return out


def make_users(spec: SampleSpec, catalogue: Catalogue) -> Users:
    """Users with taste clusters, biases, activity, sign-up/churn times and demographics."""
    rng = rng_for(spec.seed, _USERS)
    n = spec.users
    mainstream = rng.beta(*_MAINSTREAM_BETA, size=n)
    bias = rng.normal(0.0, 0.35, size=n)

    span = spec.end_ts - spec.start_ts
    existing = rng.random(n) < _EXISTING_USERS
    signup = np.where(existing, spec.start_ts, spec.start_ts + rng.integers(0, span - DAY, size=n)).astype(
        np.int64
    )
    first_share = np.where(existing, 0.0, rng.beta(2.0, 2.5, size=n))
    activity = rng.lognormal(0.0, _ACTIVITY_SIGMA, size=n)
    # A user who churns is a light one; heavy users keep rating to the end of the window,
    # so a time-based evaluation on the last weeks has history to work with.
    churn = (rng.random(n) < 0.3) & (activity < np.median(activity))
    end = np.where(
        churn, signup + ((spec.end_ts - signup) * rng.uniform(0.2, 1.0, size=n)).astype(np.int64), spec.end_ts
    ).astype(np.int64)
    end = np.maximum(end, np.minimum(signup + DAY, spec.end_ts))
    active_share = (end - signup) / span
    mean = spec.interactions / n
    floor = int(min(_MIN_RATINGS, max(3, int(0.6 * mean))))
    cap = max(floor, int(0.6 * catalogue.n))  # ml-1m: the heaviest user rated 2,314 of 3,706
    n_ratings = _spread(activity * (0.5 + 0.5 * active_share), spec.interactions, floor, cap)

    # Heavy users have broader tastes: more clusters (so they are not pushed off-taste once
    # their few clusters are exhausted); the unused columns keep weight 0.
    clusters = _taste_clusters(rng, catalogue, n)
    width = clusters.shape[1]
    k = np.clip(_TASTE_CLUSTERS_MIN + n_ratings // _RATINGS_PER_CLUSTER, 1, width)
    used = np.arange(width)[None, :] < k[:, None]
    weights = rng.dirichlet(np.full(width, _TASTE_CONCENTRATION), size=n) * used
    # Tastes drift: the weights at the end keep part of the sign-up ones and move the rest.
    drift = rng.dirichlet(np.full(width, _TASTE_CONCENTRATION), size=n) * used
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    drift = drift / np.maximum(drift.sum(axis=1, keepdims=True), 1e-12)
    weights_late = (1.0 - _TASTE_DRIFT) * weights + _TASTE_DRIFT * drift
    taste = np.zeros((n, catalogue.cluster_genres.shape[1]))
    for col in range(width):  # a column at a time: [users, width, genres] is large for the 25m preset
        taste += 0.5 * (weights + weights_late)[:, col : col + 1] * catalogue.cluster_genres[clusters[:, col]]
    taste = np.where(taste.sum(axis=1, keepdims=True) > 0, taste, GENRE_PRIOR[None, :])
    taste /= taste.sum(axis=1, keepdims=True)

    gender = ["M" if x else "F" for x in rng.random(n) < 0.71]
    age = np.clip(16 + np.round(rng.gamma(2.2, 8.0, size=n)), 16, 80).astype(np.int64)
    occupation = [OCCUPATIONS[i] for i in rng.integers(len(OCCUPATIONS), size=n)]
    zip_code = [f"{z:05d}" for z in rng.integers(1000, 99_999, size=n)]
    return Users(
        user_ids=np.arange(1, n + 1, dtype=np.int64),
        clusters=clusters,
        weights=weights,
        weights_late=weights_late,
        taste=taste,
        mainstream=mainstream,
        bias=bias,
        signup_ts=signup,
        existing=existing,
        first_share=first_share,
        end_ts=end,
        n_ratings=n_ratings,
        whole_stars=rng.random(n) < 0.25,
        gender=gender,
        age=age,
        occupation=occupation,
        zip_code=zip_code,
    )
