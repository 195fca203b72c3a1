"""Online features: serving's fast path (one Lua EVAL or pipelined HMGETs) vs Feast's SDK.

Same Redis, same process, same entities; the values are compared one by one against Feast's.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from .common import percentiles, table

FEAST_METHOD = "Feast get_online_features + to_dict"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and (a == b or (math.isnan(a) and math.isnan(b)))
    return a == b


def _timed_rounds(fn: Callable[[], Any], rounds: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(1000.0 * (time.perf_counter() - t))
    return out


def compare_online_features(
    store: Any, redis_url: str, user_id: str, item_ids: list[str], rounds: int, warmup: int
) -> tuple[dict[str, list[float]], bool, int]:
    """Time serving's fast path (Lua and pipeline) and Feast's SDK on the same entities.

    Returns per-method latencies (ms), whether every value is equal, and how many values were compared.
    Rounds interleave the methods so machine noise hits them alike.
    """
    import redis

    from lambdarec_contracts.feature_vectors import ITEM_VECTOR_FEATURE_REFS
    from lambdarec_contracts.features import FEAST_PROJECT, ITEM_JOIN_KEY, USER_JOIN_KEY
    from serving.online_features import OnlineFeatureReader
    from serving.user_state import USER_FEATURE_REFS

    client = redis.Redis.from_url(redis_url)
    user_reader = OnlineFeatureReader(FEAST_PROJECT, USER_JOIN_KEY, USER_FEATURE_REFS)
    item_reader = OnlineFeatureReader(FEAST_PROJECT, ITEM_JOIN_KEY, ITEM_VECTOR_FEATURE_REFS)

    def read_user() -> dict[str, Any]:
        with client.pipeline(transaction=False) as p:
            user_reader.queue(p, [user_id])
            return user_reader.decode(p.execute())[0]

    def fast_lua() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return read_user(), item_reader.decode(item_reader.fetch_lua(client, item_ids))

    def fast_pipeline() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with client.pipeline(transaction=False) as p:
            item_reader.queue(p, item_ids)
            items = item_reader.decode(p.execute())
        return read_user(), items

    item_rows = [{ITEM_JOIN_KEY: i} for i in item_ids]

    def feast_sdk() -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        u = store.get_online_features(
            features=USER_FEATURE_REFS, entity_rows=[{USER_JOIN_KEY: user_id}], full_feature_names=True
        ).to_dict()
        i = store.get_online_features(
            features=ITEM_VECTOR_FEATURE_REFS, entity_rows=item_rows, full_feature_names=True
        ).to_dict()
        return u, i

    # Equality: every value of the fast path equals the SDK's, row by row.
    (fu, fi), (pu, pi), (su, si) = fast_lua(), fast_pipeline(), feast_sdk()
    equal, compared = fi == pi and fu == pu, 0
    for name, got in fu.items():
        equal &= _same(got, su[name][0])
        compared += 1
    for n, row in enumerate(fi):
        for name, got in row.items():
            equal &= _same(got, si[name][n])
            compared += 1

    methods: dict[str, Callable[[], Any]] = {
        "fast path, Lua EVAL (serving default)": fast_lua,
        "fast path, pipelined HMGETs": fast_pipeline,
        FEAST_METHOD: feast_sdk,
    }
    for fn in methods.values():
        _timed_rounds(fn, 0, warmup)
    times: dict[str, list[float]] = {k: [] for k in methods}
    for _ in range(rounds):
        for k, fn in methods.items():
            times[k].extend(_timed_rounds(fn, 1, 0))
    client.close()
    return times, equal, compared


def online_features_section(
    store: Any, redis_url: str, user_id: str, item_ids: list[str], rounds: int, warmup: int
) -> list[str]:
    """The Markdown table (medians, p99s, ratio to Feast) and the equality line."""
    times, equal, compared = compare_online_features(store, redis_url, user_id, item_ids, rounds, warmup)
    feast_median = statistics.median(times[FEAST_METHOD])
    rows = []
    for name, ts in times.items():
        q = percentiles(ts)
        rows.append(
            [
                name,
                str(len(ts)),
                f"{q['median']:.2f}",
                f"{q['p99']:.2f}",
                f"{feast_median / q['median']:.1f}x",
            ]
        )
    return [
        table(
            f"Online features: 1 user + {len(item_ids)} candidates (USER_FEATURE_REFS + ITEM_VECTOR_FEATURE_REFS), "
            f"same Redis, same process, {rounds} interleaved rounds after {warmup} warm-up",
            ["method", "rounds", "median ms", "p99 ms", "Feast median / median"],
            rows,
        ),
        f"values equal: {equal} ({compared:,} values compared against Feast's SDK)",
    ]
