"""One offline request through the pure pipeline: how the training run judges what is served.

The state is what the online stores would hold for the user with no live events: the batch
layer's full history (the seen set) and the user's Feast features. The configuration is the
serving default (``ServingSettings`` from the environment, no A/B variant), so the replay is
configured exactly like the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ..bundle import Bundle
from .context import PipelineInput, RecParams, UserState, pipeline_config
from .item_features import ItemFeatures
from .run import run_pipeline
from .trace import Trace


@dataclass(frozen=True)
class OfflineResult:
    item_ids: list[str]  # served order: the first page, then every further candidate in order
    sources: list[str]  # "+"-joined generators per served item
    degraded: list[str]


_CONFIG: dict[int, Any] = {}


def _config() -> Any:
    if not _CONFIG:
        from ..settings import ServingSettings  # pydantic-settings only

        # Quality, not latency, is judged here: a busy machine must not drop a generator.
        _CONFIG[0] = replace(pipeline_config(ServingSettings()), generator_timeout_s=math.inf)
    return _CONFIG[0]


def offline_request(
    bundle: Bundle,
    user_id: str,
    seen: set[str],
    features: dict[str, Any],
    k: int = 10,
    depth: int = 100,
    item_features: ItemFeatures | None = None,
) -> OfflineResult:
    """What serving returns for a page of ``k`` for the user, continued to ``depth`` items in served order.

    ``item_features``: the item-side batch features the online store held at the request (none:
    every item without)."""
    inp = PipelineInput(
        bundle=bundle,
        item_features=item_features if item_features is not None else ItemFeatures.empty(bundle),
        config=_config(),
        params=RecParams(k=k),
        user_id=user_id,
        state=UserState(seen=set(seen), features=dict(features)),
        trending=(),
    )
    trace = Trace()
    res = run_pipeline(inp, trace)
    ranked = res.ranked.take(slice(0, depth))
    ids = [bundle.item_ids[i] for i in ranked.item_idx.tolist()]
    assert ids[:k] == [it.item_id for it in res.items]  # the page is the head of the served order
    return OfflineResult(ids, [ranked.source(j) for j in range(len(ids))], list(trace.reasons))
