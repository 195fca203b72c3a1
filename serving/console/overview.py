"""The Overview page's data: bundle, evaluation vs baselines, freshness, streams, Redis, metrics.

Every part is read independently: a missing report, an unreachable Redis or an empty registry
shows as such in its own panel (``error`` / ``None``), never as a failed page.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lambdarec_contracts import redis_keys
from lambdarec_contracts.bundle import REPORT_JSON_FILE

from .. import metrics as m
from ..bundle import Bundle
from ..recommender import Recommender
from ..store import StoreUnavailable
from . import metrics_view

PLOT_SUFFIX = ".png"
_REDIS_INFO = (
    "redis_version",
    "uptime_in_seconds",
    "used_memory_human",
    "maxmemory_human",
    "connected_clients",
)


def age_s(iso: str | None, now: datetime | None = None) -> float | None:
    """Seconds since an ISO-8601 time (naive = UTC); None when absent or unparsable."""
    if not iso:
        return None
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    return round(((now or datetime.now(UTC)) - t).total_seconds(), 1)


def bundle_summary(bundle: Bundle | None) -> dict[str, Any] | None:
    if bundle is None:
        return None
    man = bundle.manifest
    return {
        "version": man.bundle_version,
        "created_at": man.created_at,
        "age_s": age_s(man.created_at),
        "training_data": [man.training_data_start, man.training_data_end],
        "items": len(bundle.items),
        "users": len(bundle.user_index),
        "feature_services": man.feature_services,
        "embedding_model": man.embedding_model,
        "value_model_weights": man.value_model_weights,
        "served_ranker": bundle.served_ranker,
    }


def evaluation(bundle: Bundle | None) -> dict[str, Any] | None:
    """The served blend next to the baselines: report.json's table, else the manifest's metrics."""
    if bundle is None:
        return None
    plots = sorted(p.name for p in bundle.path.glob(f"*{PLOT_SUFFIX}"))
    report: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        report = json.loads((bundle.path / REPORT_JSON_FILE).read_text())
    models = report.get("retrieval") if isinstance(report, dict) else None
    if models:
        return {
            "source": REPORT_JSON_FILE,
            "split": report.get("split"),
            "models": models,
            "served": report.get("served"),
            "ranker": report.get("ranker"),
            "plots": plots,
        }
    man = bundle.manifest
    served = {k.removeprefix("served_"): v for k, v in man.metrics.items() if k.startswith("served_")}
    models = ({"served": served} if served else {}) | dict(man.baselines)
    if not models:
        return {"source": None, "models": {}, "plots": plots}
    return {
        "source": "manifest",
        "split": None,
        "models": models,
        "served": None,
        "ranker": None,
        "plots": plots,
    }


def plot_path(bundle: Bundle | None, name: str) -> Path | None:
    """A plot of the current bundle by file name (no directories: nothing outside the bundle)."""
    if (
        bundle is None
        or "/" in name
        or "\\" in name
        or not name.endswith(PLOT_SUFFIX)
        or name.startswith(".")
    ):
        return None
    path = bundle.path / name
    return path if path.is_file() else None


def _streams(c: Any) -> list[dict[str, Any]]:
    out = []
    for stream in redis_keys.STREAMS:
        entry: dict[str, Any] = {"stream": stream, "length": int(c.xlen(stream)), "groups": []}
        if entry["length"] or c.exists(stream):
            for g in c.xinfo_groups(stream):
                entry["groups"].append(
                    {
                        "name": _text(g.get("name")),
                        "consumers": g.get("consumers"),
                        "pending": g.get("pending"),
                        "lag": g.get("lag"),  # entries not yet delivered to the group (Redis >= 7)
                        "last_delivered_id": _text(g.get("last-delivered-id")),
                    }
                )
        out.append(entry)
    return out


def _text(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


def store_state(recommender: Recommender) -> dict[str, Any]:
    """Redis, the materialization / history stamps and the speed layer's consumer groups."""

    def read(c: Any) -> dict[str, Any]:
        info = c.info()
        features, history = c.mget(redis_keys.FEATURES_VERSION, redis_keys.USER_HISTORY_VERSION)
        return {
            "redis": {"up": True, **{k: info.get(k) for k in _REDIS_INFO}, "keys": int(c.dbsize())},
            "freshness": {"features_version": _text(features), "history_version": _text(history)},
            "streams": _streams(c),
        }

    try:
        return recommender.store.run(read)
    except StoreUnavailable as e:
        return {
            "redis": {"up": False, "error": str(e)},
            "freshness": {"features_version": None, "history_version": None},
            "streams": [],
        }


def overview(recommender: Recommender) -> dict[str, Any]:
    bundle = recommender.holder.current
    state = store_state(recommender)
    loaded = recommender.features.get(bundle) if bundle is not None else None
    state["freshness"]["served_features_version"] = loaded.version if loaded is not None else None
    state["freshness"]["features_age_s"] = age_s(state["freshness"]["features_version"])
    recommender.metrics.flush()  # the buffered stage timings, as /metrics writes them
    samples = metrics_view.samples(recommender.metrics.collecting_registry())
    return {
        "bundle": bundle_summary(bundle),
        "bundle_error": recommender.holder.last_error,
        "evaluation": evaluation(bundle),
        **state,
        "cache": metrics_view.cache_rates(samples),
        "stages": metrics_view.histograms(samples, m.STAGE_LATENCY, "stage"),
        "endpoints": metrics_view.histograms(samples, m.REQUEST_LATENCY, "endpoint"),
        "experiments": metrics_view.variant_ctr(samples, recommender.experiments),
    }
