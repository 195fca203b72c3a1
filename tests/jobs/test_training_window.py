"""The training window adapts to the data's density (``jobs.training_set.adaptive_start``)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from jobs.training_set import TrainingSetError, adaptive_start

DS = date(2024, 6, 30)


def _days(*spec: tuple[str, int]) -> np.ndarray:
    """(day, number of interactions that day) -> one entry per interaction."""
    return np.concatenate([np.full(n, np.datetime64(d, "D")) for d, n in spec])


def test_sparse_data_trains_on_its_whole_history() -> None:
    days = _days(("2024-01-10", 5), ("2024-03-01", 5), ("2024-06-30", 5))
    assert adaptive_start(days, DS, min_days=56, max_days=365, max_rows=1000) == date(2024, 1, 10)


def test_dense_data_keeps_the_shortest_window() -> None:
    # 100 interactions a day: 56 days already hold 5,600 > 1,000.
    days = np.repeat(np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-07-01")), 100)
    assert adaptive_start(days, DS, min_days=56, max_days=365, max_rows=1000) == date(2024, 5, 6)


def test_the_window_grows_while_it_holds_at_most_max_rows() -> None:
    # 10 a day from 2024-01-01: [start, 06-30] holds 10 * days; 1,000 rows -> 100 days.
    days = np.repeat(np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-07-01")), 10)
    start = adaptive_start(days, DS, min_days=56, max_days=365, max_rows=1000)
    assert start == date(2024, 3, 23)
    held = ((days >= np.datetime64(start)) & (days <= np.datetime64(DS))).sum()
    assert held == 1000
    assert adaptive_start(days, DS, min_days=56, max_days=365, max_rows=1009) == start  # one more day: 1,010


def test_caps_later_events_and_bad_bounds() -> None:
    days = _days(("2023-01-01", 1), ("2024-06-01", 1), ("2024-08-01", 500))  # after ds: not counted
    assert adaptive_start(days, DS, min_days=30, max_days=365, max_rows=10) == date(
        2023, 7, 2
    )  # a year at most
    assert adaptive_start(days[:0], DS, min_days=30, max_days=365, max_rows=10) == date(2024, 6, 1)
    with pytest.raises(TrainingSetError):
        adaptive_start(days, DS, min_days=0, max_days=10, max_rows=10)
    with pytest.raises(TrainingSetError):
        adaptive_start(days, DS, min_days=20, max_days=10, max_rows=10)
