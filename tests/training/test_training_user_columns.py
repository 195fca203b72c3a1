"""The training set's list-valued user features read compactly: the same lists, histories and raw
rows as reading the whole file into pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambdarec_contracts.tables import GENRES
from training import user_columns as uc
from training.data import build_vocab, history_arrays


@pytest.fixture
def table() -> pa.Table:
    # 700 rows drawn from 90 (list, affinity) pairs, as rows of one user between two snapshots
    # repeat theirs; some pairs share the list or the affinity but not both.
    rng = np.random.default_rng(5)
    lists = [
        None if k % 6 == 0 else [f"i{x}" for x in rng.integers(0, 40, rng.integers(0, 9))] for k in range(30)
    ]
    lists[7] = []
    width = len(GENRES)
    pairs = [
        (lists[k % 30], [0.1 * (k % 45), -0.0 if k % 45 == 44 else 0.0] + [0.5] * (width - 2))
        for k in range(90)
    ]
    pick = rng.integers(0, 90, 700)
    return pa.table(
        {
            "row": np.arange(700),
            "recent": pa.array([pairs[k][0] for k in pick], pa.list_(pa.string())),
            "affinity": pa.array([pairs[k][1] for k in pick], pa.list_(pa.float32())),
        }
    )


def test_recent_lists_and_histories_match_the_per_row_lookup(
    table: pa.Table, tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    monkeypatch.setattr(uc, "READ_BATCH_ROWS", 128)  # several batches, each with its own dictionary
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=100)
    recent = uc.read_user_lists(path, "recent", "affinity")
    expected = [[*r] if r else [] for r in table.column("recent").to_pylist()]
    assert len(recent) == table.num_rows
    rows = np.array([5, 0, 699, 6, 6, 350])
    assert recent.recent_lists(rows) == [expected[r] for r in rows]
    assert uc.RecentItems.from_lists(table.column("recent").to_pylist()).lists(rows) == recent.recent_lists(
        rows
    )
    vocab = build_vocab([f"i{x}" for x in range(0, 40, 2)])  # half the ids unknown: index 0 in place
    drop = [expected[r][1] if len(expected[r]) > 1 else "i3" for r in rows]
    for length in (3, 8, 12):
        want, _ = history_arrays([expected[r] for r in rows], vocab, length, drop=drop)
        np.testing.assert_array_equal(
            recent.recent.history(recent.row_of[rows], vocab.index, length, drop=drop), want
        )
    np.testing.assert_array_equal(recent.recent.history([], vocab.index, 4), np.zeros((0, 4)))


@pytest.mark.parametrize("collide", [False, True])
def test_each_distinct_row_is_stored_once_and_every_row_reads_back_its_own_values(
    table: pa.Table, tmp_path: Path, monkeypatch, collide: bool
) -> None:  # noqa: ANN001
    monkeypatch.setattr(uc, "READ_BATCH_ROWS", 128)  # distinct rows recur across batches
    if collide:  # every row hashes alike: the value comparison alone must keep them apart
        monkeypatch.setattr(
            uc, "_row_hashes", lambda lengths, codes, affinity: np.zeros(len(lengths), np.uint64)
        )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=100)
    lists = uc.read_user_lists(path, "recent", "affinity")
    recent = [[*r] if r else [] for r in table.column("recent").to_pylist()]
    affinity = np.array(table.column("affinity").to_pylist(), np.float32)
    distinct = {(tuple(r), a.tobytes()) for r, a in zip(recent, affinity, strict=True)}
    assert len(lists.affinity_rows) == len(lists.recent)
    # A collision costs memory, never a value: colliding rows are stored apart.
    assert len(lists.recent) == len(distinct) > 60 if not collide else len(lists.recent) > len(distinct)
    every = np.arange(table.num_rows)
    assert lists.recent_lists(every) == recent
    got = lists.affinity_rows[lists.row_of[every]]
    assert got.dtype == np.float32 and got.tobytes() == affinity.tobytes()  # -0.0 kept apart from 0.0


def test_raw_rows_come_back_in_the_asked_order(table: pa.Table, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(uc, "READ_BATCH_ROWS", 128)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=100)
    rows = [640, 3, 129, 128, 3]
    got = uc.raw_rows(path, rows, ["row", "recent"])
    assert got.column("row").to_pylist() == rows
    assert got.column("recent").to_pylist() == [table.column("recent")[r].as_py() for r in rows]
    assert uc.raw_rows(path, [], ["row"]).num_rows == 0
