"""What users watch and rate, and when: exposure first, the rating second.

- **Exposure changes over time.** Each item has a weekly popularity: its base popularity, times
  a trend of its own and of its genres over the window (drift), times, for new releases, a
  curve that peaks in the release week and decays to a long-term level.
- **Sessions.** A new user rates a burst on the sign-up day (MovieLens asks for ratings before
  it recommends anything), then comes back for a number of shorter sessions until the end of
  the window (or until they churn). Ratings inside a session are a minute or so apart.
- **Choice.** Each pick follows either the week's popularity chart (the user's "mainstream"
  share), or the session's mood cluster (a cluster of the user's taste that sticks for the
  session and often to the next one: the sequential signal), or one of the user's taste
  clusters by weight; inside a cluster an item is picked by its popularity that week. Quality
  plays no part in what is picked beyond its weak tie to base popularity.
- **Rating.** Only then is the item rated: quality + user bias + taste match + noise, in half
  (or, for some users, whole) stars. So the best-rated items are not the most watched ones.

Every random stream is seeded from (seed, stream, chunk) so chunks are reproducible on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.sample_data.generate import _RATINGS, _TAGS, DAY, WEEK, Catalogue, Users, rng_for
from jobs.sample_data.spec import SampleSpec
from jobs.sample_data.words import GENERIC_TAGS

_EXPOSURE = 6  # random stream of the genre trends

_GENRE_TREND_SD = 0.8  # log-popularity change of a genre over the window
_RELEASE_BOOST = 4.0  # popularity of a new release in its first week, relative to its base
_RELEASE_FLOOR = 0.25  # long-term level after the hype, relative to the peak
_RELEASE_DECAY_WEEKS = 3.0
_SIGNUP_MIN = 15  # MovieLens asked new users for 15 ratings before recommending
_SESSION_SIZE = 4.0  # mean ratings per later session
_BURST_PART = 12  # the sign-up burst changes mood every so many ratings
_FLAT_EXP = 0.6  # popularity exponent of the last top-up rounds
_IN_CLUSTER_EXP = 0.6  # popularity exponent inside a taste cluster: fans go deeper than the chart
_MOOD = 0.85  # share of non-chart picks from the session's mood cluster
_MOOD_KEPT = 0.9  # chance that a session keeps the previous session's mood
_GAP_S = (20, 50)  # seconds between ratings in a session: fixed part + exponential mean

# Rating model: mean ~3.55, sd ~1, a clear taste effect.
_RATING_BASE = 2.98
_TASTE_WEIGHT = 1.25
_GENRE_IN_MATCH = 0.4  # taste match = 0.6 x cluster match + 0.4 x genre match
_NOISE_SD = 0.55
_DISAPPOINTMENT = 0.7  # mean of the exponential, left-skewed part of the noise
_TAGGER_SHARE = 0.15  # users who tag at all
_TAG_RATE = 0.2  # share of a tagger's ratings that come with a tag


def _lookup(cdf: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``searchsorted(cdf, x, side="right")``, on sorted queries: far fewer cache misses."""
    order = np.argsort(x)
    out = np.empty(len(x), dtype=np.int64)
    out[order] = np.searchsorted(cdf, x[order], side="right")
    return out


def _segment_cdf(values: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    """Within-segment CDF of ``values`` (segments start at ``seg_start``); 0 in empty segments.

    The last entry of every non-empty segment is exactly 1 so a draw in [0, 1) never spills over.
    """
    seg_id = np.repeat(np.arange(len(seg_start)), np.diff(np.append(seg_start, len(values))))
    cs = np.cumsum(values)
    before = np.where(seg_start > 0, cs[np.maximum(seg_start - 1, 0)], 0.0)
    cs -= before[seg_id]
    ends = np.append(seg_start[1:], len(values)) - 1
    mass = np.where(ends >= seg_start, cs[np.maximum(ends, 0)], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(mass[seg_id] > 0, cs / mass[seg_id], 0.0)
    nonempty = (ends >= seg_start) & (mass > 0)
    out[ends[nonempty]] = 1.0
    return out


@dataclass
class Exposure:
    """Weekly item popularity and the flat CDF tables the sampler draws from.

    ``chart_cdf`` row w holds ``w + CDF`` of that week's popularity over all items;
    ``cluster_cdf`` row w holds ``w * K + c + CDF`` within cluster c, items in cluster order,
    so one ``searchsorted`` draws for any mix of weeks and clusters.
    """

    weeks: int
    n_clusters: int
    weekly: np.ndarray  # [weeks, n_items]
    cluster_mass: np.ndarray  # [weeks, n_clusters]
    chart_cdf: np.ndarray
    flat_cdf: np.ndarray  # chart of popularity ** _FLAT_EXP: deep-catalogue top-ups for heavy users
    cluster_cdf: np.ndarray
    cluster_order: np.ndarray  # item indexes sorted by cluster
    cluster_start: np.ndarray  # first position of each cluster in cluster_order
    cluster_end: np.ndarray  # one past the last

    @classmethod
    def build(cls, spec: SampleSpec, catalogue: Catalogue) -> Exposure:
        rng = rng_for(spec.seed, _EXPOSURE)
        weeks = max(1, -(-spec.days // 7))
        n, k = catalogue.n, catalogue.n_clusters
        t = (np.arange(weeks) + 0.5) / weeks - 0.5  # -0.5 .. 0.5 over the window
        genre_trend = rng.normal(0.0, _GENRE_TREND_SD, size=catalogue.genre_matrix.shape[1])
        slope = catalogue.trend + catalogue.genre_matrix @ genre_trend
        release_week = (catalogue.release_ts - spec.start_ts) // WEEK
        age = np.arange(weeks)[:, None] - release_week[None, :]
        is_new = release_week > 0
        hype = np.where(
            is_new,
            _RELEASE_BOOST
            * (_RELEASE_FLOOR + (1 - _RELEASE_FLOOR) * np.exp(-np.maximum(age, 0) / _RELEASE_DECAY_WEEKS)),
            1.0,
        )
        weekly = catalogue.popularity[None, :] * np.exp(t[:, None] * slope[None, :]) * hype * (age >= 0)

        order = np.argsort(catalogue.cluster, kind="stable")
        sizes = np.bincount(catalogue.cluster, minlength=k)
        start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        cluster_of = catalogue.cluster[order]
        chart = np.empty(weeks * n)
        flat = np.empty(weeks * n)
        by_cluster = np.empty(weeks * n)
        mass = np.zeros((weeks, k))
        whole = np.zeros(1, dtype=np.int64)
        for w in range(weeks):
            row = slice(w * n, (w + 1) * n)
            chart[row] = w + _segment_cdf(weekly[w], whole)
            flat[row] = w + _segment_cdf(weekly[w] ** _FLAT_EXP, whole)
            by_cluster[row] = w * k + cluster_of + _segment_cdf(weekly[w, order] ** _IN_CLUSTER_EXP, start)
            mass[w] = np.bincount(catalogue.cluster, weights=weekly[w], minlength=k)
        return cls(weeks, k, weekly, mass, chart, flat, by_cluster, order, start, start + sizes)

    def draw_chart(self, rng: np.random.Generator, week: np.ndarray, flat: bool = False) -> np.ndarray:
        """One item per entry, by that week's popularity (``flat``: popularity ** _FLAT_EXP)."""
        n = self.weekly.shape[1]
        cdf = self.flat_cdf if flat else self.chart_cdf
        pos = _lookup(cdf, week + rng.random(len(week)))
        return np.clip(pos, week * n, week * n + n - 1) - week * n

    def draw_in_cluster(self, rng: np.random.Generator, week: np.ndarray, cluster: np.ndarray) -> np.ndarray:
        """One item per entry, from ``cluster`` by that week's popularity (the cluster must have mass)."""
        n = self.weekly.shape[1]
        x = week * self.n_clusters + cluster + rng.random(len(week))
        pos = _lookup(self.cluster_cdf, x) - week * n
        pos = np.clip(pos, self.cluster_start[cluster], self.cluster_end[cluster] - 1)
        return self.cluster_order[pos]


@dataclass
class RatingChunk:
    user_idx: np.ndarray  # user indexes (0-based); user id = user_idx + 1
    item_idx: np.ndarray  # item indexes into the catalogue
    rating: np.ndarray  # float64 in 0.5 steps
    ts: np.ndarray  # int64 unix seconds
    affinity: np.ndarray  # taste match in [0, 1], kept for tests and the manifest


@dataclass
class _Slots:
    """One entry per rating to make, before items are picked: who, when, in which session."""

    user: np.ndarray  # user indexes
    ts: np.ndarray
    week: np.ndarray  # popularity row: the week the session started in
    mood: np.ndarray  # the session's mood cluster (-1: none has items that week)


def _ffill_index(fresh: np.ndarray) -> np.ndarray:
    """For each position, the index of the last position <= it where ``fresh`` is true."""
    idx = np.where(fresh, np.arange(len(fresh)), 0)
    return np.maximum.accumulate(idx) if len(idx) else idx


def _pick_cluster(
    rng: np.random.Generator,
    users: Users,
    exposure: Exposure,
    u: np.ndarray,
    week: np.ndarray,
    ts: np.ndarray,
) -> np.ndarray:
    """A taste cluster per entry, by the user's weights then times the cluster's mass that week (-1: none)."""
    out = np.full(len(u), -1, dtype=np.int64)
    for s in range(0, len(u), 250_000):  # slices bound the [n, clusters-per-user] temporaries
        uu, ww = u[s : s + 250_000], week[s : s + 250_000]
        cl = users.clusters[uu]
        p = users.weights_at(uu, ts[s : s + 250_000]) * exposure.cluster_mass[ww[:, None], cl]
        cum = np.cumsum(p, axis=1)
        total = cum[:, -1]
        pick = (cum < (rng.random(len(uu)) * total)[:, None]).sum(axis=1)
        pick = np.minimum(pick, cl.shape[1] - 1)
        out[s : s + 250_000] = np.where(total > 0, cl[np.arange(len(uu)), pick], -1)
    return out


def _sessions(
    spec: SampleSpec, users: Users, exposure: Exposure, lo: int, hi: int, rng: np.random.Generator
) -> _Slots:
    """Rating slots of users lo..hi-1: a sign-up burst for new users, then later sessions."""
    idx = np.arange(lo, hi)
    n = users.n_ratings[lo:hi]
    signup, end = users.signup_ts[lo:hi], users.end_ts[lo:hi]
    new = ~users.existing[lo:hi]
    # Later sessions happen from the day after sign-up (existing users: from the window start)
    # to the user's end; a user who signed up too late to come back rates everything at once.
    later_from = np.where(new, signup + DAY, signup)
    later_to = np.minimum(end, spec.end_ts) - 3600
    can_return = later_to > later_from
    burst = np.where(new, np.clip(np.round(users.first_share[lo:hi] * n), np.minimum(n, _SIGNUP_MIN), n), 0)
    burst = np.where(can_return, burst, n).astype(np.int64)
    rest = n - burst
    n_later = np.where(rest > 0, np.minimum(rest, 1 + rng.poisson(rest / _SESSION_SIZE)), 0)

    # Sessions: the burst (split in parts of ~_BURST_PART ratings, each with its own mood, one
    # after the other on the sign-up day), then the later ones at uniform times.
    n_parts = -(-burst // _BURST_PART)
    part_no = np.arange(int(n_parts.sum())) - np.repeat(np.cumsum(n_parts) - n_parts, n_parts)
    part_len = int(_BURST_PART * (_GAP_S[0] + _GAP_S[1]))
    s_user = np.concatenate([np.repeat(idx, n_parts), np.repeat(idx, n_later)])
    s_start = np.concatenate(
        [
            np.repeat(signup, n_parts) + part_no * part_len,
            np.repeat(later_from, n_later)
            + (rng.random(int(n_later.sum())) * np.repeat(later_to - later_from, n_later)).astype(np.int64),
        ]
    )
    order = np.lexsort((s_start, s_user))
    s_user, s_start = s_user[order], s_start[order]
    s_week = np.minimum((s_start - spec.start_ts) // WEEK, exposure.weeks - 1)
    # The mood of a session: a fresh pick from the user's taste, or the previous session's.
    first_of_user = np.r_[True, s_user[1:] != s_user[:-1]] if len(s_user) else np.zeros(0, dtype=bool)
    fresh = first_of_user | (rng.random(len(s_user)) >= _MOOD_KEPT)
    mood = _pick_cluster(rng, users, exposure, s_user, s_week, s_start)
    mood = mood[_ffill_index(fresh)]

    # Slots -> sessions: the first `burst` slots of a user go to the burst parts in order; the
    # rest spread over the later sessions, some sessions much bigger than others.
    s_first = np.searchsorted(s_user, idx)  # first session of each user
    slot_user = np.repeat(idx, n)
    rank = np.arange(len(slot_user)) - np.repeat(np.cumsum(n) - n, n)
    u_local = slot_user - lo
    later_pick = np.floor(rng.random(len(slot_user)) ** 1.5 * np.maximum(n_later[u_local], 1)).astype(
        np.int64
    )
    in_burst = rank < burst[u_local]
    session = s_first[u_local] + np.where(in_burst, rank // _BURST_PART, n_parts[u_local] + later_pick)
    order = np.argsort(session, kind="stable")
    session = session[order]
    slot_user = slot_user[order]
    gap = _GAP_S[0] + rng.exponential(_GAP_S[1], size=len(session))
    offset = np.cumsum(gap)
    offset -= (offset - gap)[np.searchsorted(session, session)]  # restart the clock per session
    ts = np.minimum(s_start[session] + offset.astype(np.int64), spec.end_ts - 1)
    return _Slots(slot_user, ts, s_week[session], mood[session])


# Top-up rounds for picks that repeat an item the user already rated (heavy users exhaust
# their clusters): later rounds follow the chart more, the last ones the flattened chart.
# 1.0: all from the flattened chart; 2.0: uniform over the catalogue (what is not out yet is
# redrawn), for the heaviest users, who rate up to 60 % of it.
_ROUNDS = (0.0,) * 4 + (0.5,) * 2 + (1.0,) * 4 + (2.0,) * 8


def _pick_items(
    rng: np.random.Generator, users: Users, exposure: Exposure, slots: _Slots, chart_share: float
) -> np.ndarray:
    """One item per slot: the week's chart, the session's mood cluster, or a taste cluster."""
    u, week = slots.user, slots.week
    chart_p = np.maximum(users.mainstream[u], chart_share)
    r = rng.random(len(u))
    cluster = slots.mood.copy()
    own = rng.random(len(u)) >= _MOOD
    cluster[own] = _pick_cluster(rng, users, exposure, u[own], week[own], slots.ts[own])
    use_chart = (r < chart_p) | (cluster < 0)
    items = np.empty(len(u), dtype=np.int64)
    if chart_share >= 2.0:
        return rng.integers(exposure.weekly.shape[1], size=len(u))
    items[use_chart] = exposure.draw_chart(rng, week[use_chart], flat=chart_share >= 1.0)
    items[~use_chart] = exposure.draw_in_cluster(rng, week[~use_chart], cluster[~use_chart])
    return items


def _repeats(user: np.ndarray, item: np.ndarray, n_items: int) -> np.ndarray:
    """Mask of slots (in time order per user) whose item the user already picked earlier."""
    _, first = np.unique(user * n_items + item, return_index=True)
    out = np.ones(len(user), dtype=bool)
    out[first] = False
    return out


def _new_repeats(kept: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Mask of ``keys`` already in the sorted array ``kept`` or repeating an earlier one of ``keys``."""
    pos = np.minimum(np.searchsorted(kept, keys), max(len(kept) - 1, 0))
    out = (kept[pos] == keys) if len(kept) else np.zeros(len(keys), dtype=bool)
    _, first = np.unique(keys, return_index=True)
    again = np.ones(len(keys), dtype=bool)
    again[first] = False
    return out | again


def genre_match(users: Users, catalogue: Catalogue, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """How well item i's genres match user u's genre taste, in [0, 1] (1 = only the favourite genre).

    Items without genres get a neutral 1/n_genres. In slices, to bound the [n, genres] temporaries.
    """
    taste_rel = (users.taste / users.taste.max(axis=1, keepdims=True)).astype(np.float32)
    genres = catalogue.genre_matrix.astype(np.float32)
    has_genre = catalogue.genre_matrix.sum(axis=1) > 0
    out = np.empty(len(u))
    for s in range(0, len(u), 200_000):
        uu, ii = u[s : s + 200_000], i[s : s + 200_000]
        m = np.einsum("ij,ij->i", taste_rel[uu], genres[ii])
        out[s : s + 200_000] = np.where(has_genre[ii], m, 1.0 / genres.shape[1])
    return out


def make_ratings(
    spec: SampleSpec, catalogue: Catalogue, users: Users, exposure: Exposure, lo: int, hi: int, chunk: int
) -> RatingChunk:
    """Distinct (user, item) ratings of users lo..hi-1, sorted by user then time."""
    rng = rng_for(spec.seed, _RATINGS, chunk)
    slots = _sessions(spec, users, exposure, lo, hi, rng)
    order = np.lexsort((slots.ts, slots.user))
    slots = _Slots(slots.user[order], slots.ts[order], slots.week[order], slots.mood[order])
    week_start = spec.start_ts + slots.week * WEEK
    items = _pick_items(rng, users, exposure, slots, 0.0)
    # A pick that repeats an earlier one of the user, or (a float edge case) is not out yet, is
    # redone; redone picks are checked against the sorted keys of the accepted ones.
    bad = _repeats(slots.user, items, catalogue.n) | (catalogue.release_ts[items] > week_start)
    todo = np.flatnonzero(bad)
    kept = np.sort(slots.user[~bad] * catalogue.n + items[~bad])
    for chart_share in _ROUNDS[1:]:
        if len(todo) == 0:
            break
        part = _Slots(slots.user[todo], slots.ts[todo], slots.week[todo], slots.mood[todo])
        new = _pick_items(rng, users, exposure, part, chart_share)
        keys = part.user * catalogue.n + new
        redo = _new_repeats(kept, keys) | (catalogue.release_ts[new] > week_start[todo])
        items[todo] = new
        kept = np.sort(np.concatenate([kept, keys[~redo]]), kind="stable")  # nearly sorted: fast
        todo = todo[redo]
    keep = np.ones(len(items), dtype=bool)
    keep[todo] = False  # what still repeats after all rounds is dropped (a handful of heavy users)
    u, i, ts = slots.user[keep], items[keep], slots.ts[keep]

    aff = (1.0 - _GENRE_IN_MATCH) * users.match(u, catalogue.cluster[i], ts) + _GENRE_IN_MATCH * genre_match(
        users, catalogue, u, i
    )
    score = (
        _RATING_BASE
        + users.bias[u]
        + catalogue.quality[i]
        + _TASTE_WEIGHT * aff
        + rng.normal(0.0, _NOISE_SD, size=len(u))
        # A left-skewed part (mean 0): a few picks disappoint badly, as MovieLens' 1-2 stars show.
        - (rng.exponential(_DISAPPOINTMENT, size=len(u)) - _DISAPPOINTMENT)
    )
    whole = users.whole_stars[u]
    rating = np.where(whole, np.clip(np.round(score), 1.0, 5.0), np.clip(np.round(score * 2) / 2, 0.5, 5.0))
    order = np.lexsort((i, ts, u))
    return RatingChunk(u[order], i[order], rating[order], ts[order], aff[order])


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
