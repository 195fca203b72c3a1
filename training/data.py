"""Training inputs: loading the batch layer's artifacts, vocabularies, model input arrays, the split.

Pure pandas/numpy (no TensorFlow), so publishing can reuse the evaluation-set helpers.
Id → index lookups are plain dicts here, exactly as serving does them with ``user_vocab.json`` /
``item_vocab.json`` (index 0 = OOV): the same mapping in training, evaluation and serving.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api.extensions import ExtensionArray

from lambdarec_contracts.bundle import OOV_TOKEN
from lambdarec_contracts.feature_vectors import USER_VECTOR_FEATURE_REFS, genre_multi_hot
from lambdarec_contracts.features import (
    ITEM_REALTIME_VIEW,
    ITEM_STATS_VIEW,
    ITEM_TEXT_VIEW,
    USER_REALTIME_VIEW,
    USER_RECENT_ITEMS,
    USER_STATS_VIEW,
    full_name,
    ref_to_full_name,
)
from lambdarec_contracts.tables import (
    DIM_ITEMS,
    FCT_INTERACTIONS,
    ITEM_EMBEDDINGS_TABLE,
    ITEM_FEATURES_TABLE,
    TRAINING_SET_FILE,
)

from .user_columns import UserLists, read_user_lists

RECENT_ITEMS_COL = ref_to_full_name(USER_RECENT_ITEMS)
AFFINITY_COL = full_name(USER_STATS_VIEW, "genre_affinity")
# The user view stays out of the training-set frame: its lists and the scalars ``user_vector``
# reads are stored once per distinct user row (``user_columns``); the rest is not read.
USER_SCALAR_COLUMNS = tuple(
    ref_to_full_name(ref) for ref in USER_VECTOR_FEATURE_REFS if ref_to_full_name(ref) != AFFINITY_COL
)
NOT_INTERESTED = "not_interested"


class InputError(Exception):
    """An expected input is missing or malformed (reported without a stack trace)."""


@dataclass
class Inputs:
    """Everything training reads for one ``ds``."""

    # The training set's scalar columns (row positions as index) and, by the same positions, its
    # list-valued user features; ``training_set_path`` for the raw values of a few rows.
    training_set: pd.DataFrame
    user_lists: UserLists
    training_set_path: Path
    dim_items: pd.DataFrame
    interactions: pd.DataFrame
    text_embeddings: pd.DataFrame | None
    item_features: pd.DataFrame | None
    embedding_model: str
    embedding_dim: int
    sources: dict[str, str] = field(default_factory=dict)


# Training reads the item side from the catalogue (dim_items, text embeddings, item features), never
# per interaction: the training set's item-view columns (a 384-d embedding on every row among them)
# are left on disk, which saves most of the set's memory and load time.
# The interaction log's columns training reads (the mart has more: FCT_INTERACTIONS_COLUMNS)
INTERACTION_COLUMNS = ["user_id", "item_id", "rating", "event_type", "event_ts", "is_positive"]
ITEM_VIEW_PREFIXES = tuple(f"{view}__" for view in (ITEM_STATS_VIEW, ITEM_TEXT_VIEW, ITEM_REALTIME_VIEW))
# Real-time features are no model input (always null offline): left on disk too.
UNREAD_PREFIXES = (*ITEM_VIEW_PREFIXES, f"{USER_REALTIME_VIEW}__")
# The frame's columns: ids, time and labels (the user view comes from ``user_columns``).
FRAME_SKIPS = (*UNREAD_PREFIXES, f"{USER_STATS_VIEW}__")


def _read(
    path: Path,
    what: str,
    skip_prefixes: tuple[str, ...] = (),
    columns: list[str] | None = None,
) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"missing {what}: {path}")
    try:
        if skip_prefixes:
            names = pq.read_schema(path).names
            columns = [c for c in names if not c.startswith(skip_prefixes)]
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # pyarrow raises many types; say which file is bad
        raise InputError(f"cannot read {what} at {path}: {exc}") from exc


def load_inputs(data_dir: Path, ds: str) -> Inputs:
    """Read the training set, marts, text embeddings and the latest item features for ``ds``."""
    ts_path = data_dir / "training_sets" / f"ds={ds}" / TRAINING_SET_FILE
    training_set = _read(ts_path, "training set", skip_prefixes=FRAME_SKIPS)
    required = {"user_id", "item_id", "event_timestamp", "rating", "event_type", "label"}
    missing = (required | {RECENT_ITEMS_COL, AFFINITY_COL, *USER_SCALAR_COLUMNS}) - set(
        pq.read_schema(ts_path).names
    )
    if missing:
        raise InputError(f"training set {ts_path} lacks columns {sorted(missing)}")
    if training_set.empty:
        raise InputError(f"training set {ts_path} is empty")
    training_set["event_timestamp"] = pd.to_datetime(training_set["event_timestamp"], utc=True)
    training_set = training_set.reset_index(drop=True)  # the index is the row position (user_lists)
    try:
        user_lists = read_user_lists(ts_path, RECENT_ITEMS_COL, AFFINITY_COL, USER_SCALAR_COLUMNS)
    except (ValueError, OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read the user lists of training set {ts_path}: {exc}") from exc
    dim_items = _read(data_dir / "marts" / f"{DIM_ITEMS}.parquet", "dim_items mart")
    # Not interaction_id or event_date: unused here, and as one Python object per row they were
    # about a third of the process's memory on the 10m preset.
    interactions = _read(
        data_dir / "marts" / f"{FCT_INTERACTIONS}.parquet",
        "fct_interactions mart",
        columns=INTERACTION_COLUMNS,
    )
    interactions["event_ts"] = pd.to_datetime(interactions["event_ts"], utc=True)
    sources = {"training_set": str(ts_path)}

    emb_path = data_dir / "embeddings" / f"{ITEM_EMBEDDINGS_TABLE}.parquet"
    text = _read(emb_path, "text embeddings") if emb_path.exists() else None
    model_name, dim = "none", 0
    if text is not None and not text.empty:
        model_name = str(text["embedding_model"].iloc[0]) if "embedding_model" in text else "unknown"
        dim = len(text["embedding"].iloc[0])
        sources["text_embeddings"] = f"{emb_path}:{model_name}"

    feat_dir = data_dir / "features" / ITEM_FEATURES_TABLE / f"ds={ds}"
    item_features = None
    if feat_dir.exists():
        item_features = pd.read_parquet(feat_dir)
        sources["item_features"] = str(feat_dir)
    return Inputs(
        training_set,
        user_lists,
        ts_path,
        dim_items,
        interactions,
        text,
        item_features,
        model_name,
        dim,
        sources,
    )


# --- vocabularies ------------------------------------------------------------------------------


@dataclass
class Vocab:
    """Ids in index order; index 0 is OOV; indices 1..n_trained have trained id embeddings."""

    ids: list[str]
    n_trained: int

    def __post_init__(self) -> None:
        self.index = {x: i for i, x in enumerate(self.ids)}
        self.index.pop(OOV_TOKEN, None)

    def __len__(self) -> int:
        return len(self.ids)

    def lookup(self, ids: Iterable[Any]) -> np.ndarray:
        """Indices of ids (0 for unknown ones). Each distinct id is looked up once: a column of
        millions of repeated ids (Arrow strings in pandas) never becomes millions of Python strings."""
        values = (
            ids
            if isinstance(ids, pd.Series | pd.Index | np.ndarray | ExtensionArray)
            else np.array(list(ids), object)
        )
        codes, uniques = pd.factorize(values)
        table = np.fromiter((self.index.get(str(x), 0) for x in uniques), np.int64, len(uniques))
        return (
            np.where(codes >= 0, table[np.maximum(codes, 0)], 0)
            if len(table)
            else np.zeros(len(codes), np.int64)
        )


def build_vocab(train_ids: Iterable[Any], extra_ids: Iterable[Any] = ()) -> Vocab:
    """[OOV] + ids seen in training (most frequent first, id breaks ties) + the other extra ids."""
    ids = train_ids if isinstance(train_ids, pd.Series) else pd.Series(list(train_ids), dtype=object)
    counts = ids.astype(str).value_counts()
    trained = sorted(counts.index, key=lambda x: (-counts[x], x))
    seen = set(trained)
    rest = sorted({str(x) for x in extra_ids} - seen)
    return Vocab([OOV_TOKEN, *trained, *rest], n_trained=len(trained))


# --- item content (candidate tower inputs, in item-vocab order) --------------------------------


@dataclass
class ItemContent:
    genres: np.ndarray  # float32 [V, len(GENRES)]
    year: np.ndarray  # float32 [V, 1], (year - 1900) / 100, 0 when unknown
    text: np.ndarray  # float32 [V, E] (E may be 0)


def item_content(vocab: Vocab, dim_items: pd.DataFrame, text: pd.DataFrame | None) -> ItemContent:
    """Static per-item arrays aligned with the item vocabulary (OOV row is all zeros)."""
    by_id = dim_items.set_index(dim_items["item_id"].astype(str))
    genres = np.zeros((len(vocab), len(genre_multi_hot(()))), np.float32)
    year = np.zeros((len(vocab), 1), np.float32)
    for i, item_id in enumerate(vocab.ids):
        if i == 0 or item_id not in by_id.index:
            continue
        row = by_id.loc[item_id]
        g = row["genres"]
        genres[i] = genre_multi_hot(list(g) if g is not None else [])
        y = row["year"]
        year[i, 0] = (float(y) - 1900.0) / 100.0 if pd.notna(y) and float(y) > 0 else 0.0
    dim = 0 if text is None or text.empty else len(text["embedding"].iloc[0])
    emb = np.zeros((len(vocab), dim), np.float32)
    if dim:
        idx = vocab.lookup(text["item_id"])
        ok = idx > 0
        emb[idx[ok]] = np.stack([np.asarray(e, np.float32) for e in text["embedding"][ok]])
    return ItemContent(genres, year, emb)


# --- feature vectors and histories ---------------------------------------------------------------


def history_arrays(
    histories: Sequence[Sequence[str] | None],
    vocab: Vocab,
    history_len: int,
    drop: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Padded history indices [N, L] (0 = padding/unknown) and mask [N, L] (1 = known item).

    ``drop[n]`` (the row's target item) is removed from row n's history so a stale or
    same-timestamp snapshot can never leak the label into the input.
    """
    idx = np.zeros((len(histories), history_len), np.int64)
    for n, h in enumerate(histories):
        if h is None:
            continue
        items = [x for x in h if drop is None or x != drop[n]][:history_len]
        if items:
            idx[n, : len(items)] = vocab.lookup(items)
    return idx, (idx > 0).astype(np.float32)


def last_rows_before(
    training_set: pd.DataFrame, users: list[str], before: pd.Series, inclusive: bool
) -> pd.DataFrame:
    """Each user's last training-set row at (``inclusive``) or before ``before[user]`` (user ids as
    strings; the index keeps the rows' positions). Only the users' rows are copied."""
    uid = training_set["user_id"].astype(str)
    mine = uid.isin(set(users)).to_numpy()
    ts = training_set.loc[mine].assign(user_id=uid[mine])
    limit = ts["user_id"].map(before)
    ts = ts[ts["event_timestamp"] <= limit] if inclusive else ts[ts["event_timestamp"] < limit]
    return ts.sort_values("event_timestamp", kind="stable").groupby("user_id").tail(1)
