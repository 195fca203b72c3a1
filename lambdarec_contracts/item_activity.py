"""Item activity windows as the batch layer's ``item_stats`` snapshots count them, at any past moment.

The Spark feature job (``jobs/features/transforms.py`` ``_window_counts``) writes, per snapshot
day ``ds``, each item's events in the 7 and 30 days before ``ds + 1 day 00:00 UTC``; serving
reads the latest materialized snapshot. A request at time ``t`` therefore sees the counts of the
days before ``t``'s own day. Training needs the same counts at many past moments (each user's
cut-off), which one snapshot per day would make expensive; this index answers them from the
interaction log directly, with the same windows (``tests/jobs`` checks it against Spark's
snapshot). numpy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ITEM_ACTIVITY_WINDOWS: tuple[int, ...] = (7, 30)  # days, as item_stats' n_interactions_7d / _30d
_SPAN = np.int64(1 << 24)  # days per item in the sort key (46,000 years)
_EPOCH = np.datetime64("1970-01-01", "D")


def day_number(ts: Any) -> np.ndarray:
    """Timestamps -> whole UTC days since 1970-01-01 (int64): naive datetime64 (taken as UTC) or a
    pandas Series of tz-aware ones."""
    dt_accessor = getattr(ts, "dt", None)
    if dt_accessor is not None and dt_accessor.tz is not None:
        ts = dt_accessor.tz_convert("UTC").dt.tz_localize(None)
    days = np.asarray(ts, dtype="datetime64[ns]").astype("datetime64[D]")
    return (days - _EPOCH).astype(np.int64)


class ItemActivity:
    """Every event as (item, day), sorted: an item's events in a day window by two binary searches."""

    def __init__(self, item_idx: np.ndarray, day: np.ndarray) -> None:
        item_idx, day = np.asarray(item_idx, np.int64), np.asarray(day, np.int64)
        if len(day) and (day.min() < 0 or day.max() >= _SPAN):
            raise ValueError("event days must lie between 1970 and year 46,000")
        self._keys = np.sort(item_idx * _SPAN + day)

    def counts(self, items: np.ndarray, request_day: int, days: int) -> np.ndarray:
        """Events of each item on the ``days`` days before ``request_day`` (the snapshot a request
        on ``request_day`` sees: days ``request_day - days`` .. ``request_day - 1``)."""
        base = np.asarray(items, np.int64) * _SPAN
        hi = np.searchsorted(self._keys, base + request_day, side="left")
        lo = np.searchsorted(self._keys, base + (request_day - days), side="left")
        return (hi - lo).astype(np.int64)

    def log_windows(self, items: np.ndarray, request_day: int) -> np.ndarray:
        """float32 [len(items), len(ITEM_ACTIVITY_WINDOWS)]: log1p of each window's count, the
        value ``feature_vectors.item_vector`` gives item_stats' n_interactions_7d / _30d."""
        cols = [np.log1p(self.counts(items, request_day, d)) for d in ITEM_ACTIVITY_WINDOWS]
        return (
            np.stack(cols, axis=1).astype(np.float32) if len(cols) else np.zeros((len(items), 0), np.float32)
        )
