"""Impressions are written off the request path: batched, in order, best effort."""

from __future__ import annotations

import pytest

from lambdarec_contracts import redis_keys
from lambdarec_contracts.events import stream_fields_to_record
from serving.impressions import ImpressionWriter, impression_fields
from serving.metrics import Metrics
from serving.store import Store

pytestmark = pytest.mark.redis


def served(n: int) -> list[dict[str, str]]:
    return [{"item_id": f"i{k}", "source": "two_tower"} for k in range(n)]


def writer(redis_server, metrics: Metrics, max_pending: int = 100) -> tuple[ImpressionWriter, Store]:
    store = Store(redis_server.url, socket_timeout_s=0.2, backoff_s=0.0)
    return ImpressionWriter(store, metrics, flush_s=3600, max_pending=max_pending), store


def test_many_lists_few_bounded_script_calls_in_order(redis_server, r):
    metrics = Metrics()
    w, store = writer(redis_server, metrics)
    w._thread = object()  # type: ignore[assignment]  # as if started: submit only queues
    for n in range(30):
        w.submit(f"req{n}", f"u{n}", served(3), "v1", "default", None)
    assert r.xlen(redis_keys.IMPRESSIONS_STREAM) == 0  # nothing written on the request path
    calls = []
    real = store.run
    store.run = lambda fn: calls.append(1) or real(fn)  # type: ignore[method-assign]
    # 4 lists per script call (a call blocks Redis while it runs): 30 lists in 8 calls, in order
    assert w.max_lists_per_call == 4 and w.flush() == 30 and len(calls) == 8
    got = [stream_fields_to_record(f) for _, f in r.xrange(redis_keys.IMPRESSIONS_STREAM)]
    assert [(g["request_id"], g["position"]) for g in got] == [
        (f"req{n}", p) for n in range(30) for p in range(3)
    ]
    assert {g["user_id"] for g in got[:3]} == {"u0"} and got[0]["model_version"] == "v1"
    # Byte for byte the contract's encoding of one Impression per item (request_id and ts of each
    # request), also for a list served again (its entries are encoded once and reused).
    items = served(2)
    w.submit("again-1", "u9", items, "v1", "treatment", "exp")
    w.submit("again-2", "u9", items, "v1", "treatment", "exp")
    ts = [args[1] for args in w._pending]
    w.flush()
    want = [
        f
        for rid, t in zip(("again-1", "again-2"), ts, strict=True)
        for f in impression_fields(rid, t, "u9", items, "v1", "treatment", "exp")
    ]
    tail = [
        {k.decode(): v.decode() for k, v in f.items()} for _, f in r.xrange(redis_keys.IMPRESSIONS_STREAM)
    ][-4:]
    assert tail == want
    store.close()


def test_redis_down_counts_and_the_queue_stays_bounded(redis_server):
    metrics = Metrics()
    w, store = writer(redis_server, metrics, max_pending=10)
    w._thread = object()  # type: ignore[assignment]
    redis_server.stop()
    for n in range(15):
        w.submit(f"req{n}", "u1", served(2), "v1", "default", None)
    assert len(w._pending) == 10  # the 5 oldest were dropped (and counted)
    assert w.flush() == 0  # written nowhere
    text = metrics.exposition().decode()
    # one per served list that was not logged: 5 dropped from the full queue + 10 in the failed batch
    assert 'lambdarec_degraded_responses_total{reason="impressions_not_logged"} 15.0' in text
    store.close()
