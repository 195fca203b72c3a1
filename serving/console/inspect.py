"""The User and Item pages' data: a user's stored state, an item's metadata and neighbours.

Reads only (one pipelined round trip per user, a bounded scan of the impressions stream per
item); recommendations themselves come from the recommendation endpoint (``explain=true``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lambdarec_contracts import redis_keys, user_history
from lambdarec_contracts.events import stream_fields_to_record
from lambdarec_contracts.feature_vectors import ITEM_VECTOR_NAMES

from ..bundle import Bundle
from ..experiments import assign
from ..recommender import Recommender
from ..similar import SimilarItems
from ..store import StoreUnavailable

LIST_MAX = 50  # entries of each list shown
HISTORY_MAX = 200  # batch-history items shown (the count is always exact)
IMPRESSIONS_SCANNED = 5000  # newest impressions searched for "recently served to"


def _title(bundle: Bundle | None, item_id: str) -> str | None:
    return bundle.title(item_id) if bundle is not None else None


def _timed(bundle: Bundle | None, pairs: list[tuple[bytes, float]]) -> list[dict[str, Any]]:
    out = []
    for raw, ms in pairs:
        item = raw.decode()
        at = datetime.fromtimestamp(ms / 1000.0, UTC).isoformat(timespec="seconds")
        out.append({"item_id": item, "title": _title(bundle, item), "at": at})
    return out


def _iso(ts: Any) -> str:
    return ts.isoformat(timespec="seconds") if isinstance(ts, datetime) else str(ts)


def _clean(features: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe feature values (lists of ids stay lists; bytes become text)."""
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in features.items()}


def user_view(recommender: Recommender, user_id: str) -> dict[str, Any]:
    """History (batch), real-time state (speed layer), features, cache generation, A/B arm."""
    bundle = recommender.holder.current
    limits = recommender.loader.limits
    a = assign(recommender.experiments, user_id)
    out: dict[str, Any] = {
        "user_id": user_id,
        "known_to_bundle": bundle is not None and user_id in bundle.user_index,
        "experiment": a.experiment,
        "variant": a.variant.name,
    }

    def queue(p: Any) -> None:
        p.get(redis_keys.user_history(user_id))
        p.zrevrange(
            redis_keys.seen_items(user_id), 0, min(LIST_MAX, limits.seen_items_max) - 1, withscores=True
        )
        p.zrevrange(redis_keys.not_interested(user_id), 0, LIST_MAX - 1, withscores=True)
        p.zcard(redis_keys.seen_items(user_id))
        p.zcard(redis_keys.not_interested(user_id))
        p.lrange(redis_keys.recent_items(user_id), 0, LIST_MAX - 1)
        p.get(redis_keys.rec_cache_generation(user_id))
        recommender.loader.reader.queue(p, [user_id])

    try:
        hist, seen, neg, n_seen, n_neg, recent, gen, feats = recommender.store.pipeline(queue)
    except StoreUnavailable as e:
        return out | {"store_error": str(e)}
    history = sorted(user_history.decode(hist))
    out |= {
        "history": {
            "count": len(history),
            "items": [{"item_id": i, "title": _title(bundle, i)} for i in history[:HISTORY_MAX]],
        },
        "seen": {"count": int(n_seen), "items": _timed(bundle, seen)},
        "not_interested": {"count": int(n_neg), "items": _timed(bundle, neg)},
        "recent": [{"item_id": r.decode(), "title": _title(bundle, r.decode())} for r in recent],
        "cache_generation": int(gen or 0),
        "features": _clean(recommender.loader.reader.decode([feats])[0]),
    }
    return out


def _served_to(recommender: Recommender, item_id: str) -> dict[str, Any]:
    """Users the item was recently served to, from the impressions stream still in Redis."""

    def scan(c: Any) -> list[Any]:
        return c.xrevrange(redis_keys.IMPRESSIONS_STREAM, count=IMPRESSIONS_SCANNED)  # type: ignore[no-any-return]

    try:
        entries = recommender.store.run(scan)
    except StoreUnavailable as e:
        return {"error": str(e), "users": [], "scanned": 0}
    users: dict[str, dict[str, Any]] = {}
    for _, fields in entries:
        rec = stream_fields_to_record(fields)
        if rec.get("item_id") != item_id or rec.get("user_id") in users:
            continue
        users[rec["user_id"]] = {
            "user_id": rec["user_id"],
            "position": rec.get("position"),
            "variant": rec.get("variant"),
            "source": rec.get("source"),
            "at": _iso(rec.get("ts")),
        }
    return {"users": list(users.values()), "scanned": len(entries)}


def item_view(recommender: Recommender, similar: SimilarItems, item_id: str) -> dict[str, Any] | None:
    """Metadata, popularity, batch features, neighbours and recent audience; None: unknown item."""
    bundle = recommender.holder.current
    if bundle is None or (item_id not in bundle.items and item_id not in bundle.position):
        return None
    pos = bundle.position.get(item_id)
    out: dict[str, Any] = {
        "item_id": item_id,
        "title": bundle.title(item_id),
        "metadata": bundle.items.get(item_id),
        "in_catalogue": bundle.available(item_id),
        "in_vocabulary": item_id in bundle.item_index,
        "bundle_version": bundle.version,
    }
    if pos is not None and bundle.collaborative is not None:
        out["popularity"] = {
            "interactions": float(bundle.collaborative.popularity[pos]),
            "percentile": float(bundle.collaborative.popularity_pct[pos]),
        }
    feats = recommender.features.get(bundle)
    if pos is not None and feats is not None and feats.present[pos]:
        out["features"] = dict(zip(ITEM_VECTOR_NAMES, (float(v) for v in feats.matrix[pos]), strict=True))
    _, items = similar.similar(item_id, 20)
    groups: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        groups.setdefault(it.source, []).append(it.model_dump())
    out["similar"] = groups
    out["served_to"] = _served_to(recommender, item_id)
    return out
