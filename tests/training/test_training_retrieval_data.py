"""The two-tower examples as Parquet shards: every row once per epoch with its own inputs, rows
scattered over the shards, seeded shuffles (hand-made training-set rows; TensorFlow only in the
last test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambdarec_contracts.feature_vectors import user_vector
from lambdarec_contracts.tables import GENRES
from training import retrieval_data as rd
from training.data import AFFINITY_COL, RECENT_ITEMS_COL, USER_SCALAR_COLUMNS, Vocab, build_vocab
from training.prepare import ROW
from training.user_columns import read_user_lists

N = 1000
HISTORY_LEN = 4
SCALAR_FEATURES = ["user_stats__n_interactions_total", "user_stats__rating_mean"]


@pytest.fixture(autouse=True)
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    # Several shards, chunks and row groups out of 333 rows (the defaults are sized for millions).
    monkeypatch.setattr(rd, "SHARD_ROWS", 300)
    monkeypatch.setattr(rd, "CHUNK_ROWS", 250)
    monkeypatch.setattr(rd, "ROW_GROUP_ROWS", 64)


def _training_set() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    i = np.arange(N)
    return pd.DataFrame(
        {
            "user_id": i % 60 + 1,  # (user, item) unique per row
            "item_id": i // 60 + 1,
            "user_stats__n_interactions_total": rng.integers(0, 50, N).astype(float),
            "user_stats__rating_mean": np.where(rng.random(N) < 0.2, np.nan, rng.uniform(1, 5, N)),
            RECENT_ITEMS_COL: [
                None if k % 7 == 0 else np.array([str(x) for x in rng.integers(1, 18, 6)]) for k in range(N)
            ],
            # null, NaN-holding and wrong-length lists too (user_vector makes zeros / cleans them)
            AFFINITY_COL: [
                None
                if k % 9 == 0
                else [0.5, 0.5]
                if k % 13 == 0
                else [float("nan"), *rng.random(len(GENRES) - 1)]
                if k % 17 == 0
                else rng.random(len(GENRES)).tolist()
                for k in range(N)
            ],
            "item_stats__n_interactions_total": 1.0,  # not a query-tower input
        }
    )


class Case:
    """333 base-period rows of the training set (every third, newest first), written as shards."""

    def __init__(self, directory: Path, seed: int = 1) -> None:
        self.ts = _training_set()
        # As training loads it: the lists from the file, the frame without them.
        directory.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(self.ts, preserve_index=False), directory / "set.parquet")
        scalars = [c for c in USER_SCALAR_COLUMNS if c in self.ts]
        assert scalars == SCALAR_FEATURES
        self.lists = read_user_lists(directory / "set.parquet", RECENT_ITEMS_COL, AFFINITY_COL, scalars)
        keep = np.arange(1, N, 3)[::-1]
        self.rows = pd.DataFrame(
            {
                "user_id": self.ts["user_id"].astype(str).to_numpy()[keep],
                "item_id": self.ts["item_id"].astype(str).to_numpy()[keep],
                ROW: keep,
            }
        )
        self.users: Vocab = build_vocab(self.rows["user_id"])
        self.items: Vocab = build_vocab(self.rows["item_id"], extra_ids=["999"])
        self.shards = rd.write_shards(
            self.rows,
            self.lists,
            self.users,
            self.items,
            HISTORY_LEN,
            directory / "shards",
            seed,
        )

    def key(self, user_idx: int, item_idx: int) -> tuple[str, str]:
        return self.users.ids[user_idx], self.items.ids[item_idx]

    def epoch(self, batch: int, seed: int, dropout: float = 0.0) -> list[rd.Batch]:
        return list(rd.epoch_batches(self.shards, batch, dropout, np.random.default_rng(seed)))


def test_every_row_once_per_epoch_with_its_own_inputs(tmp_path: Path) -> None:
    c = Case(tmp_path)
    assert c.shards.n_rows == 333 and len(c.shards.paths) == 2
    batches = c.epoch(64, seed=5)
    assert [len(b["item_idx"]) for b in batches] == [64] * 5 + [13]
    assert len(batches) == rd.batches_per_epoch(c.shards, 64)
    by_key = c.rows.set_index(["user_id", "item_id"])[ROW]
    seen = []
    for b in batches:
        for n in range(len(b["item_idx"])):
            key = c.key(b["user_idx"][n], b["item_idx"][n])
            src = c.ts.iloc[by_key[key]]
            recent = [
                x for x in (src[RECENT_ITEMS_COL] if src[RECENT_ITEMS_COL] is not None else []) if x != key[1]
            ]
            hist = np.zeros(HISTORY_LEN, np.int64)
            hist[: len(recent[:HISTORY_LEN])] = [c.items.index[x] for x in recent[:HISTORY_LEN]]
            np.testing.assert_array_equal(b["history_idx"][n], hist)  # the row's own item never in it
            np.testing.assert_array_equal(b["history_mask"][n], (hist > 0).astype(np.float32))
            raw = {k: (None if pd.isna(src[k]) else src[k]) for k in SCALAR_FEATURES}
            raw[AFFINITY_COL] = src[AFFINITY_COL]
            np.testing.assert_allclose(b["user_features"][n], user_vector(raw), rtol=1e-6)
            seen.append(key)
    assert sorted(seen) == sorted(by_key.index)
    # logQ correction: each item's share of the rows; OOV and items never trained on get 0
    share = c.rows["item_id"].value_counts() / 333
    b = batches[0]
    np.testing.assert_allclose(b["item_prob"], [share[c.items.ids[i]] for i in b["item_idx"]], rtol=1e-6)
    assert c.shards.item_prob[0] == 0 and c.shards.item_prob[c.items.index["999"]] == 0


def test_rows_are_scattered_over_the_shards(tmp_path: Path) -> None:
    c = Case(tmp_path)
    position = {k: n for n, k in enumerate(zip(c.rows["user_id"], c.rows["item_id"], strict=True))}
    for path in c.shards.paths:
        t = pa.ipc.open_file(path).read_all()
        pos = [
            position[c.key(u, i)]
            for u, i in zip(t["user_idx"].to_pylist(), t["item_idx"].to_pylist(), strict=True)
        ]
        # each shard holds rows of both chunks (the first 250 rows and the last 83), not a run of them
        assert min(pos) < 20 and max(pos) > 310 and 120 < len(pos) < 213
        assert pa.ipc.open_file(path).num_record_batches > 1


def test_shuffles_are_seeded_and_differ_between_epochs(tmp_path: Path) -> None:
    c = Case(tmp_path / "a")

    def order(case: Case, seed: int) -> list[tuple[str, str]]:
        return [
            case.key(u, i)
            for b in case.epoch(50, seed)
            for u, i in zip(b["user_idx"], b["item_idx"], strict=True)
        ]

    assert order(c, 7) == order(c, 7)
    assert order(c, 7) != order(c, 8)
    other = Case(tmp_path / "b", seed=2)  # other shards, same rows
    assert sorted(order(c, 7)) == sorted(order(other, 7)) and order(c, 7) != order(other, 7)


def test_user_id_dropout_hides_about_that_share(tmp_path: Path) -> None:
    c = Case(tmp_path)
    full = np.concatenate([b["user_idx"] for b in c.epoch(64, seed=3)])
    kept = np.concatenate([b["user_idx"] for b in c.epoch(64, seed=3, dropout=0.3)])
    assert (full > 0).all()
    assert 0.2 < (kept == 0).mean() < 0.4


def test_shard_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rd, "SHARD_ROWS", 10)
    monkeypatch.setattr(rd, "MAX_SHARDS", 3)
    c = Case(tmp_path)
    assert len(c.shards.paths) == 3
    assert sum(pa.ipc.open_file(p).read_all().num_rows for p in c.shards.paths) == 333


def test_tf_dataset_reads_the_epochs_in_order(tmp_path: Path) -> None:
    c = Case(tmp_path)
    first = [b["item_idx"].numpy().tolist() for b in rd.dataset(c.shards, 100, 0.0, seed=4, epochs=2)]
    assert [len(b) for b in first] == [100, 100, 100, 33] * 2
    again = [b["item_idx"].numpy().tolist() for b in rd.dataset(c.shards, 100, 0.0, seed=4, epochs=2)]
    assert first == again and first[:4] != first[4:]
    assert sorted(sum(first[:4], [])) == sorted(sum(first[4:], []))


def test_training_reads_the_sets_user_side_only(tiny_data_dir: Path, tmp_path: Path) -> None:
    from lambdarec_contracts.tables import TRAINING_SET_FILE
    from tests.training.conftest import TINY_DS
    from training.data import FRAME_SKIPS, ITEM_VIEW_PREFIXES, load_inputs

    path = tiny_data_dir / "training_sets" / f"ds={TINY_DS}" / TRAINING_SET_FILE
    on_disk = pq.read_table(path)
    # jobs.training_set writes the user side only by default ...
    assert not [c for c in on_disk.column_names if c.startswith(ITEM_VIEW_PREFIXES)]
    inputs = load_inputs(tiny_data_dir, TINY_DS)
    loaded = inputs.training_set
    # the list-valued user features come from the file separately (user_columns), by row position
    kept = [c for c in on_disk.column_names if not c.startswith(FRAME_SKIPS)]
    assert list(loaded.columns) == kept and "label" in kept and "user_stats__rating_mean" not in kept
    assert len(inputs.user_lists) == on_disk.num_rows == len(loaded)
    recent = on_disk.column(RECENT_ITEMS_COL).to_pylist()
    for r in (0, len(loaded) // 2, len(loaded) - 1):
        assert inputs.user_lists.recent_lists([r]) == [[str(x) for x in recent[r] or []]]
    # the user vector of every row, from the distinct user rows, is the contract's of the raw row
    assert set(USER_SCALAR_COLUMNS) <= set(on_disk.column_names)
    raw = on_disk.select([c for c in on_disk.column_names if c.startswith("user_stats__")]).to_pylist()
    np.testing.assert_array_equal(
        inputs.user_lists.user_matrix(np.arange(on_disk.num_rows)), np.stack([user_vector(r) for r in raw])
    )
    assert len(inputs.user_lists.recent) < on_disk.num_rows  # rows share their user rows
    # ... and a set with the item side (``--item-views``) loads the same columns
    wide_dir = tmp_path / "training_sets" / f"ds={TINY_DS}"
    wide_dir.mkdir(parents=True)
    for name in ("marts", "embeddings"):
        (tmp_path / name).symlink_to(tiny_data_dir / name)
    embedding = pa.array([[0.5, 0.5]] * on_disk.num_rows, pa.list_(pa.float32()))
    pq.write_table(
        on_disk.append_column("item_text_embedding__embedding", embedding), wide_dir / TRAINING_SET_FILE
    )
    assert list(load_inputs(tmp_path, TINY_DS).training_set.columns) == list(loaded.columns)
