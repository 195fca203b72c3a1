"""The training set's list-valued user features read compactly: the same lists, histories and raw
rows as reading the whole file into pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training import user_columns as uc
from training.data import build_vocab, history_arrays


@pytest.fixture
def table() -> pa.Table:
    rng = np.random.default_rng(5)
    n = 700
    recent = [
        None if k % 6 == 0 else [f"i{x}" for x in rng.integers(0, 40, rng.integers(0, 9))] for k in range(n)
    ]
    return pa.table(
        {
            "row": np.arange(n),
            "recent": pa.array(recent, pa.list_(pa.string())),
            "affinity": pa.array([[0.1 * k] * 3 for k in range(n)], pa.list_(pa.float32())),
        }
    )


def test_recent_lists_and_histories_match_the_per_row_lookup(
    table: pa.Table, tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    monkeypatch.setattr(uc, "READ_BATCH_ROWS", 128)  # several batches, each with its own dictionary
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=100)
    recent = uc.read_user_lists(path, "recent", "affinity").recent
    expected = [[*r] if r else [] for r in table.column("recent").to_pylist()]
    assert len(recent) == table.num_rows
    rows = np.array([5, 0, 699, 6, 6, 350])
    assert recent.lists(rows) == [expected[r] for r in rows]
    assert uc.RecentItems.from_lists(table.column("recent").to_pylist()).lists(rows) == recent.lists(rows)
    vocab = build_vocab([f"i{x}" for x in range(0, 40, 2)])  # half the ids unknown: index 0 in place
    drop = [expected[r][1] if len(expected[r]) > 1 else "i3" for r in rows]
    for length in (3, 8, 12):
        want, _ = history_arrays([expected[r] for r in rows], vocab, length, drop=drop)
        np.testing.assert_array_equal(recent.history(rows, vocab.index, length, drop=drop), want)
    np.testing.assert_array_equal(recent.history([], vocab.index, 4), np.zeros((0, 4)))


def test_raw_rows_come_back_in_the_asked_order(table: pa.Table, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(uc, "READ_BATCH_ROWS", 128)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=100)
    rows = [640, 3, 129, 128, 3]
    got = uc.raw_rows(path, rows, ["row", "recent"])
    assert got.column("row").to_pylist() == rows
    assert got.column("recent").to_pylist() == [table.column("recent")[r].as_py() for r in rows]
    assert uc.raw_rows(path, [], ["row"]).num_rows == 0
