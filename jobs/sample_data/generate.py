"""Pure generation of MovieLens-shaped data: a catalogue, users, and ratings chunk by chunk.

The model, in short:
- items have 1-4 genres, a latent quality, a log-normal popularity (long tail) and a release
  time; a fifth of them are released during the window and get no rating before that;
- users have a Dirichlet taste over genres, a rating bias, an activity level (log-normal),
  a sign-up time and, for some light users, a churn time; heavy users stay to the end;
- a user's items are proposed by popularity and kept with a probability that grows with
  how well the item's genres match the user's taste (rejection sampling), each at most once;
  the rating is quality + bias + taste match + noise, rounded to half (or, for some users,
  whole) stars.

Every random stream is seeded from (seed, stream, chunk) so chunks are reproducible on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from jobs.sample_data.spec import SampleSpec
from jobs.sample_data.words import (
    ADJECTIVES,
    GENERIC_TAGS,
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

# Random streams (the second seed word), so adding a stream never shifts another.
_CATALOGUE, _USERS, _RATINGS, _TAGS = 1, 2, 3, 4

# Tuning of the rating model: mean rating ~3.5, sd ~1, a clear taste effect.
_RATING_BASE = 2.85
_TASTE_WEIGHT = 1.9
_NOISE_SD = 0.75
_EXPLORE = 0.05  # chance that a proposed item outside the user's taste is kept anyway
_TASTE_SHARPNESS = 2.0  # exponent on the taste match when keeping a proposed item
_TASTE_CONCENTRATION = 2.0  # Dirichlet total: lower = more peaked tastes
_POPULARITY_SIGMA = 2.1
_NEW_RELEASE_SHARE = 0.2
_TAGGER_SHARE = 0.15  # users who tag at all
_TAG_RATE = 0.2  # share of a tagger's ratings that come with a tag


def rng_for(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, chunk])


@dataclass
class Catalogue:
    movie_ids: np.ndarray  # int64, sorted, sparse (like ml-latest)
    titles: list[str]  # "Name (YEAR)"; one deliberate anomaly has no year
    genres: list[list[str]]  # genre names; two deliberate anomalies have none
    genre_matrix: np.ndarray  # [n_items, n_genres], rows sum to 1 (0 for no genres)
    years: np.ndarray  # int64, 0 when the title has no year
    release_ts: np.ndarray  # int64 unix seconds: no rating before this
    quality: np.ndarray  # float64
    popularity: np.ndarray  # float64, sums to 1
    themes: list[list[str]]
    descriptions: list[str]
    imdb_ids: np.ndarray
    tmdb_ids: np.ndarray  # 0 = missing (written empty, as in ml-latest)

    def __post_init__(self) -> None:
        # Hot-loop copies for the sampler: float32 halves memory traffic.
        self.genre_matrix32 = self.genre_matrix.astype(np.float32)
        self.has_genre = self.genre_matrix.sum(axis=1) > 0

    @property
    def n(self) -> int:
        return len(self.movie_ids)


@dataclass
class Users:
    user_ids: np.ndarray  # int64, 1..n
    taste: np.ndarray  # [n_users, n_genres], rows sum to 1
    bias: np.ndarray
    signup_ts: np.ndarray
    end_ts: np.ndarray  # last moment the user is active (window end unless churned)
    n_ratings: np.ndarray  # target number of distinct items rated
    whole_stars: np.ndarray  # bool: rates in whole stars only
    gender: list[str]
    age: np.ndarray
    occupation: list[str]
    zip_code: list[str]

    def __post_init__(self) -> None:
        # Taste relative to the favourite genre, float32, precomputed for the sampler.
        self.taste_rel = (self.taste / self.taste.max(axis=1, keepdims=True)).astype(np.float32)

    @property
    def n(self) -> int:
        return len(self.user_ids)


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


def make_catalogue(spec: SampleSpec) -> Catalogue:
    """Items with genres, years, release times, quality, popularity, titles and descriptions."""
    rng = rng_for(spec.seed, _CATALOGUE)
    n, g = spec.items, len(GENRE_NAMES)
    movie_ids = np.sort(rng.choice(np.arange(1, int(n * 1.25) + 2), size=n, replace=False)).astype(np.int64)

    # 1-4 genres per item, drawn without replacement by genre share (Gumbel top-k).
    k = rng.choice([1, 2, 3, 4], size=n, p=[0.35, 0.35, 0.2, 0.1])
    keys = np.log(GENRE_PRIOR)[None, :] + rng.gumbel(size=(n, g))
    order = np.argsort(-keys, axis=1)
    genre_idx = [list(order[i, : k[i]]) for i in range(n)]
    anomalies = rng.choice(n, size=3, replace=False) if n >= 50 else np.array([], dtype=int)
    no_genre_items, no_year_items = set(anomalies[:2].tolist()), set(anomalies[2:].tolist())
    for i in no_genre_items:
        genre_idx[i] = []
    genre_matrix = np.zeros((n, g))
    for i, idx in enumerate(genre_idx):
        if idx:
            genre_matrix[i, idx] = 1.0 / len(idx)

    new = rng.random(n) < _NEW_RELEASE_SHARE
    release_ts = np.where(
        new,
        spec.start_ts + rng.integers(0, max(1, spec.end_ts - spec.start_ts - 10 * DAY), size=n),
        spec.start_ts,
    ).astype(np.int64)
    old_years = spec.start.year - 1 - np.floor(rng.exponential(12.0, size=n)).astype(np.int64)
    new_years = np.array([datetime.fromtimestamp(int(t), UTC).year for t in release_ts])
    years = np.where(new, new_years, np.maximum(old_years, 1915)).astype(np.int64)

    quality = rng.normal(0.0, 0.45, size=n)
    # Log-normal popularity: a long tail like Zipf's, but with a broad head of popular items
    # rather than two or three that every user has rated (which small catalogues saturate).
    popularity = np.exp(_POPULARITY_SIGMA * rng.normal(size=n) + 0.6 * quality) * np.where(new, 2.0, 1.0)
    popularity /= popularity.sum()

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


def make_users(spec: SampleSpec, catalogue: Catalogue) -> Users:
    """Users with tastes, biases, activity, sign-up/churn times and demographics."""
    rng = rng_for(spec.seed, _USERS)
    n = spec.users
    taste = rng.dirichlet(_TASTE_CONCENTRATION * GENRE_PRIOR, size=n)
    bias = rng.normal(0.0, 0.35, size=n)
    span = spec.end_ts - spec.start_ts
    existing = rng.random(n) < 0.45
    signup = np.where(existing, spec.start_ts, spec.start_ts + rng.integers(0, span - DAY, size=n)).astype(
        np.int64
    )
    activity = rng.lognormal(0.0, 1.0, size=n)
    # A user who churns is a light one; heavy users keep rating to the end of the window,
    # so a time-based evaluation on the last weeks has history to work with.
    churn = (rng.random(n) < 0.3) & (activity < np.median(activity))
    end = np.where(
        churn, signup + ((spec.end_ts - signup) * rng.uniform(0.3, 1.0, size=n)).astype(np.int64), spec.end_ts
    ).astype(np.int64)
    active_share = (end - signup) / span
    mean = spec.interactions / n
    floor = int(max(3, min(20, mean // 2)))
    cap = max(floor, int(0.6 * catalogue.n))
    n_ratings = _spread(activity * (0.2 + 0.8 * active_share), spec.interactions, floor, cap)

    gender = ["M" if x else "F" for x in rng.random(n) < 0.71]
    age = np.clip(16 + np.round(rng.gamma(2.2, 8.0, size=n)), 16, 80).astype(np.int64)
    occupation = [OCCUPATIONS[i] for i in rng.integers(len(OCCUPATIONS), size=n)]
    zip_code = [f"{z:05d}" for z in rng.integers(1000, 99_999, size=n)]
    return Users(
        user_ids=np.arange(1, n + 1, dtype=np.int64),
        taste=taste,
        bias=bias,
        signup_ts=signup,
        end_ts=end,
        n_ratings=n_ratings,
        whole_stars=rng.random(n) < 0.25,
        gender=gender,
        age=age,
        occupation=occupation,
        zip_code=zip_code,
    )


def affinity(users: Users, catalogue: Catalogue, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """How well item i's genres match user u's taste, in [0, 1] (1 = only the favourite genre).

    Items without genres get a neutral 1/n_genres. Computed in slices to bound memory.
    """
    out = np.empty(len(u))
    neutral = np.float32(1.0 / users.taste.shape[1])
    for s in range(0, len(u), 200_000):
        uu, ii = u[s : s + 200_000], i[s : s + 200_000]
        match = np.einsum("ij,ij->i", users.taste_rel[uu], catalogue.genre_matrix32[ii])
        out[s : s + 200_000] = np.where(catalogue.has_genre[ii], match, neutral)
    return out


@dataclass
class Sampler:
    """Draws items for users: by popularity (long tail), kept with a probability set by taste."""

    catalogue: Catalogue
    cdf: np.ndarray  # popularity CDF over all items
    flat_cdf: np.ndarray  # CDF of a flattened popularity, to fill up users whose draws collided

    @classmethod
    def build(cls, catalogue: Catalogue) -> Sampler:
        cdf = np.cumsum(catalogue.popularity)
        flat = np.cumsum(catalogue.popularity**0.6)
        return cls(catalogue, cdf / cdf[-1], flat / flat[-1])

    def draw(
        self,
        rng: np.random.Generator,
        users: Users,
        user_idx: np.ndarray,
        explore: float = _EXPLORE,
        flat: bool = False,
    ) -> np.ndarray:
        """One item index per entry of ``user_idx``.

        Rejection sampling: a popular item is proposed, and kept with probability
        ``explore + (1 - explore) * affinity``, so popularity sets the long tail and taste
        decides among popular items; ``explore`` is the chance an off-taste item is kept.
        """
        cdf = self.flat_cdf if flat else self.cdf
        out = np.full(len(user_idx), -1, dtype=np.int64)
        todo = np.arange(len(user_idx))
        for _ in range(30):
            if len(todo) == 0:
                break
            cand = np.minimum(np.searchsorted(cdf, rng.random(len(todo)), side="right"), len(cdf) - 1)
            keep_p = (
                explore
                + (1.0 - explore) * affinity(users, self.catalogue, user_idx[todo], cand) ** _TASTE_SHARPNESS
            )
            kept = rng.random(len(todo)) < keep_p
            out[todo[kept]] = cand[kept]
            todo = todo[~kept]
        if len(todo):  # practically never: take the proposal as is
            out[todo] = np.minimum(np.searchsorted(cdf, rng.random(len(todo)), side="right"), len(cdf) - 1)
        return out


@dataclass
class RatingChunk:
    user_idx: np.ndarray  # user indexes (0-based); user id = user_idx + 1
    item_idx: np.ndarray  # item indexes into the catalogue
    rating: np.ndarray  # float64 in 0.5 steps
    ts: np.ndarray  # int64 unix seconds
    affinity: np.ndarray  # taste match in [0, 1], kept for tests and the manifest


def _first_per_user(user_idx: np.ndarray, item_idx: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Indexes of the first occurrence of each (user, item), at most limit[user] per user, in draw order."""
    key = user_idx * (int(item_idx.max(initial=0)) + 1) + item_idx
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)
    u = user_idx[first]
    order = np.argsort(u, kind="stable")
    su = u[order]
    starts = np.searchsorted(su, su, side="left")
    rank = np.arange(len(su)) - starts
    keep = np.empty(len(first), dtype=bool)
    keep[order] = rank < limit[su]
    return first[keep]


def make_ratings(
    spec: SampleSpec, catalogue: Catalogue, users: Users, sampler: Sampler, lo: int, hi: int, chunk: int
) -> RatingChunk:
    """Distinct (user, item) ratings of users lo..hi-1, sorted by user then time."""
    rng = rng_for(spec.seed, _RATINGS, chunk)
    idx = np.arange(lo, hi)
    want = users.n_ratings[lo:hi]
    limit = np.zeros(users.n, dtype=np.int64)
    limit[lo:hi] = want
    u_all = np.empty(0, dtype=np.int64)
    i_all = np.empty(0, dtype=np.int64)
    short = want.copy()
    # Top-up rounds for users whose draws collided (a narrow taste runs out of items): each
    # round explores more of the catalogue beyond the user's favourite genres and popular items.
    for round_no, explore in enumerate((_EXPLORE, 0.3, 0.5, 0.5, 0.7, 1.0, 1.0, 1.0)):
        flat = round_no >= 2
        draws = np.ceil(short * 1.5).astype(np.int64) + (short > 0) * 2
        u = np.repeat(idx, draws)
        items = sampler.draw(rng, users, u, explore, flat)
        # An item released after the user's last active moment cannot be rated: redraw.
        for _ in range(8):
            bad = catalogue.release_ts[items] >= users.end_ts[u]
            if not bad.any():
                break
            items[bad] = sampler.draw(rng, users, u[bad], explore, flat)
        ok = catalogue.release_ts[items] < users.end_ts[u]
        u_all = np.concatenate([u_all, u[ok]])
        i_all = np.concatenate([i_all, items[ok]])
        keep = _first_per_user(u_all, i_all, limit)
        u_all, i_all = u_all[keep], i_all[keep]
        short = want - np.bincount(u_all - lo, minlength=hi - lo)
        if short.sum() == 0:
            break

    t_lo = np.maximum(users.signup_ts[u_all], catalogue.release_ts[i_all])
    t_hi = users.end_ts[u_all]
    ts = t_lo + np.floor(rng.random(len(u_all)) * (t_hi - t_lo)).astype(np.int64)

    aff = affinity(users, catalogue, u_all, i_all)
    score = (
        _RATING_BASE
        + users.bias[u_all]
        + catalogue.quality[i_all]
        + _TASTE_WEIGHT * aff
        + rng.normal(0.0, _NOISE_SD, size=len(u_all))
    )
    whole = users.whole_stars[u_all]
    rating = np.where(whole, np.clip(np.round(score), 1.0, 5.0), np.clip(np.round(score * 2) / 2, 0.5, 5.0))

    order = np.lexsort((i_all, ts, u_all))
    return RatingChunk(u_all[order], i_all[order], rating[order], ts[order], aff[order])


def make_tags(spec: SampleSpec, catalogue: Catalogue, chunk_data: RatingChunk, chunk: int) -> list[tuple]:
    """Tags (userId, movieId, tag, timestamp) some users add to items they rated."""
    rng = rng_for(spec.seed, _TAGS, chunk)
    tagger = (rng_for(spec.seed, _TAGS, 10**6).random(spec.users) < _TAGGER_SHARE)[chunk_data.user_idx]
    picked = np.flatnonzero(tagger & (rng.random(len(chunk_data.user_idx)) < _TAG_RATE))
    out: list[tuple] = []
    for r in picked:
        item = int(chunk_data.item_idx[r])
        themes = catalogue.themes[item]
        tag = (
            GENERIC_TAGS[rng.integers(len(GENERIC_TAGS))]
            if rng.random() < 0.25
            else themes[rng.integers(len(themes))]
        )
        ts = min(int(chunk_data.ts[r]) + int(rng.integers(0, 3600)), spec.end_ts - 1)
        out.append((int(chunk_data.user_idx[r]) + 1, int(catalogue.movie_ids[item]), tag, ts))
    out.sort(key=lambda t: (t[0], t[1], t[3], t[2]))
    return out


def user_chunks(users: Users, rows_per_chunk: int) -> list[tuple[int, int]]:
    """Contiguous user ranges of about ``rows_per_chunk`` ratings each (memory stays bounded)."""
    bounds = [0]
    acc = 0
    for i, n in enumerate(users.n_ratings):
        acc += int(n)
        if acc >= rows_per_chunk:
            bounds.append(i + 1)
            acc = 0
    if bounds[-1] != users.n:
        bounds.append(users.n)
    return list(zip(bounds[:-1], bounds[1:], strict=True))
