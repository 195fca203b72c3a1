"""Step 4b: evaluation of what is served — serving's own pipeline replayed over the evaluation users.

For each evaluation user the bundle directory is loaded by serving's loader and a request goes
through serving's pure pipeline (``serving.pipeline.run``: retrieve → filter → features → score →
rank → explain) with the user's state as the online stores would hold it at their hold-out point:
every item of their training history in the seen set (the batch layer publishes it), their Feast
user features from the training set's last row before that point, no live events. The served
lists are scored against the held-out items exactly like the baselines (same users, same
metrics), and each generator's share of the served slots is counted.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from lambdarec_contracts.features import FULL_NAME_SEPARATOR, USER_STATS_VIEW
from lambdarec_contracts.item_activity import ItemActivity
from lambdarec_contracts.ranker_features import ITEM_ACTIVITY_COLUMNS

from . import evaluation
from .baselines import EvalUsers
from .data import last_rows_before
from .user_columns import raw_rows

SERVED_DEPTH = 100  # served list length scored (Recall@50/100 need more than a page)


@dataclass
class ServedEval:
    metrics: dict[str, float]
    generator_share: dict[str, float]  # share of the top-10 slots each generator proposed
    curve: np.ndarray
    degraded_share: float
    seen_served: int  # served items (top SERVED_DEPTH) from the user's own training history: must be 0
    seconds: float
    examples: list[dict] = field(default_factory=list)  # a few users' served lists (report)


def user_states(ev: EvalUsers, training_set: pd.DataFrame, cut: pd.Series, path: Path) -> list[dict]:
    """Feast user features (full names) per evaluation user, from their last row before the cut:
    the raw values of those rows, read back from the training set's file at ``path``."""
    last = last_rows_before(training_set, ev.user_ids, cut, inclusive=False)
    cols = [c for c in pq.read_schema(path).names if c.startswith(USER_STATS_VIEW + FULL_NAME_SEPARATOR)]
    raw = raw_rows(path, last.index.to_numpy(), cols).to_pylist()
    by_user = dict(zip(last["user_id"], raw, strict=True))
    out = []
    for u in ev.user_ids:
        row = by_user.get(u, {})
        out.append({c: (None if _isnull(v) else v) for c, v in row.items()})
    return out


def _isnull(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def replay(
    bundle_dir: Path,
    ev: EvalUsers,
    item_ids: list[str],
    user_feats: list[dict],
    activity: ItemActivity,
    request_days: np.ndarray,
) -> ServedEval:
    """Serve every evaluation user through serving's pipeline and score the lists.

    Each user is served as at their hold-out point (``request_days``): the item features carry
    the items' recent activity as item_stats counted it then.
    """
    from serving.bundle import load_bundle
    from serving.pipeline.item_features import ItemFeatures
    from serving.pipeline.replay import offline_request

    t0 = time.perf_counter()
    bundle = load_bundle(bundle_dir)
    vocab = np.arange(len(bundle.item_vocab))
    position = {x: i for i, x in enumerate(item_ids)}
    tops = np.zeros((len(ev.user_ids), SERVED_DEPTH), dtype=np.int64)
    share: Counter[str] = Counter()
    degraded = seen_served = 0
    examples = []
    day, feats = None, None
    for row in np.argsort(request_days, kind="stable"):  # by day: one feature matrix per day
        u = ev.user_ids[row]
        if request_days[row] != day:
            day, feats = int(request_days[row]), ItemFeatures.empty(bundle)
            feats.matrix[vocab[:, None], ITEM_ACTIVITY_COLUMNS] = activity.log_windows(vocab, day)
        seen = {item_ids[i] for i in ev.exclude[row] if i > 0}
        result = offline_request(
            bundle, u, seen, user_feats[row], k=10, depth=SERVED_DEPTH, item_features=feats
        )
        served = [position.get(x, 0) for x in result.item_ids]
        tops[row, : len(served)] = served[:SERVED_DEPTH]
        seen_served += len(seen.intersection(result.item_ids))
        degraded += bool(result.degraded)
        for src in result.sources[:10]:
            share.update(src.split("+"))
        if len(examples) < 3:
            examples.append({"user_id": u, "items": result.item_ids[:10], "sources": result.sources[:10]})
    metrics = evaluation.ranking_metrics(
        tops, ev.heldout, len(item_ids) - 1, ev.item_user_counts, ev.n_train_users
    )
    slots = max(1, len(ev.user_ids) * 10)
    return ServedEval(
        metrics=metrics,
        generator_share={g: n / slots for g, n in share.most_common()},
        curve=evaluation.recall_curve(tops, ev.heldout),
        degraded_share=degraded / max(1, len(ev.user_ids)),
        seen_served=seen_served,
        seconds=time.perf_counter() - t0,
        examples=examples,
    )
