"""Step 1 of a training run: the splits, vocabularies and per-user histories every later step uses.

Two nested per-user temporal splits of the interaction log (``training/split.py``):

    |---------------- a user's history ----------------|
    |------------- train ---------------|-- heldout ---|   evaluation: what is served is judged here
    |------- base -------|--- labels ---|                  ranker: generators fit on base offer
                                                           candidates, labels say what came next

The generators that serve (EASE/item-kNN/popularity) are fit on ``train`` for the evaluation;
the ranker learns on candidates the same generators, fit on ``base``, offer for ``labels``; the
two-tower model is fit on the base rows of the Feast training set, so no model sees what it is
asked to predict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lambdarec_contracts.item_activity import ItemActivity, day_number

from .config import TrainConfig
from .data import Inputs, ItemContent, Vocab, build_vocab, item_content
from .split import NOT_INTERESTED, UserSplit, per_user_split
from .user_columns import UserLists

ROW = "_row"


@dataclass
class Prepared:
    split: UserSplit  # evaluation split of all interactions
    ranker_split: UserSplit  # split of split.train
    user_vocab: Vocab
    item_vocab: Vocab
    content: ItemContent
    # The Feast training set's positives of the base period: ids, event_timestamp and ROW, the
    # row's position in ``training_set`` (the two-tower model the ranker's examples are made with)
    retrieval_rows: pd.DataFrame
    # ... and of the whole training period (the two-tower model that is judged and served: as fresh
    # at the hold-out point as the item-to-item generators)
    served_retrieval_rows: pd.DataFrame
    interactions: pd.DataFrame  # everything (the published generators are refit on it)
    training_set: pd.DataFrame  # as loaded (not copied)
    activity: ItemActivity  # every interaction by (item, day): item_stats' windows at any past moment
    user_lists: UserLists  # the training set's list-valued user features, by row position

    def drop_ranker_inputs(self) -> None:
        """Free what only the base-period two-tower model and the ranker read (the ranker's split,
        the base period's rows): ~0.5 GB at 10M interactions, before the steps that peak."""
        self.ranker_split = UserSplit(
            self.ranker_split.train.iloc[:0],
            self.ranker_split.heldout.iloc[:0],
            self.ranker_split.cut_ts.iloc[:0],
        )
        self.retrieval_rows = self.retrieval_rows.iloc[:0]

    def histories(self, df: pd.DataFrame, users: list[str]) -> list[np.ndarray]:
        """Item indices each user interacted with in ``df`` (unknown items dropped), in ``users`` order."""
        df = df.loc[df["user_id"].isin(users).to_numpy(), ["user_id", "item_id"]]  # only their rows
        idx = self.item_vocab.lookup(df["item_id"])
        by_user = pd.Series(idx).groupby(df["user_id"].astype(str).to_numpy()).apply(np.asarray)
        empty = np.zeros(0, dtype=np.int64)
        return [np.asarray(by_user.get(u, empty), dtype=np.int64) for u in users]

    def targets(self, df: pd.DataFrame, users: list[str]) -> list[dict[int, float]]:
        """Per user: held-out item index -> rating (NaN when unrated); unknown items dropped."""
        df = df.loc[df["user_id"].isin(users).to_numpy(), ["user_id", "item_id", "rating"]]
        idx = self.item_vocab.lookup(df["item_id"])
        rating = pd.to_numeric(df["rating"], errors="coerce").to_numpy(dtype=np.float64)
        out: dict[str, dict[int, float]] = {}
        for u, i, r in zip(df["user_id"].astype(str), idx, rating, strict=True):
            if i > 0:
                out.setdefault(u, {})[int(i)] = float(r)
        return [out.get(u, {}) for u in users]


def prepare(inputs: Inputs, cfg: TrainConfig) -> Prepared:
    """Split the interaction log twice and build the vocabularies (ids as strings, index 0 = OOV)."""
    # Ids as strings, converted in place: nothing else reads the loaded log (a copy of it was
    # the size of the log, ~0.5 GB at 10M interactions).
    inter = inputs.interactions
    inter["user_id"], inter["item_id"] = inter["user_id"].astype(str), inter["item_id"].astype(str)
    split = per_user_split(inter, cfg.holdout_frac, cfg.min_user_interactions)
    if split.heldout.empty:
        raise ValueError(
            f"no evaluation users: no user has {cfg.min_user_interactions}+ interactions with new items"
        )
    ranker_split = per_user_split(split.train, cfg.holdout_frac, cfg.min_user_interactions)
    base_pairs = ranker_split.train.loc[
        ranker_split.train["event_type"] != NOT_INTERESTED, ["user_id", "item_id"]
    ]
    # Slim rows (ids, time, position in the training set): the two-tower step reads the feature
    # columns a chunk at a time from the training set itself, so they are never copied whole.
    ts = inputs.training_set[["user_id", "item_id", "event_timestamp", "event_type"]].reset_index(drop=True)
    ts["user_id"], ts["item_id"] = ts["user_id"].astype(str), ts["item_id"].astype(str)
    ts[ROW] = np.arange(len(ts))
    rows = _rows_of(ts, base_pairs)
    if rows.empty:
        raise ValueError("no training-set rows fall in the base period of the split")
    train_pairs = split.train.loc[split.train["event_type"] != NOT_INTERESTED, ["user_id", "item_id"]]
    # Trained ids are those the two-tower model sees; every other catalogue item still gets an
    # index (the collaborative matrices and popularity cover all items).
    user_vocab = build_vocab(rows["user_id"])
    item_vocab = build_vocab(
        rows["item_id"], extra_ids=[*inputs.dim_items["item_id"].astype(str), *inter["item_id"].unique()]
    )
    content = item_content(item_vocab, inputs.dim_items, inputs.text_embeddings)
    # All events, as the Spark job counts item_stats' windows (not only the positives).
    activity = ItemActivity(item_vocab.lookup(inter["item_id"]), day_number(inter["event_ts"]))
    return Prepared(
        split, ranker_split, user_vocab, item_vocab, content, rows, _rows_of(ts, train_pairs),
        inter, inputs.training_set, activity, inputs.user_lists,
    )  # fmt: skip


def _rows_of(ts: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The training set's positive rows of the (user, item) pairs, in time order."""
    rows = ts[ts["event_type"] != NOT_INTERESTED].merge(pairs.drop_duplicates(), on=["user_id", "item_id"])
    return rows.sort_values("event_timestamp", kind="stable").reset_index(drop=True)
