"""serving.store.Store under concurrency: one request's Redis failure must not break the others'."""

from __future__ import annotations

import pytest

from serving.store import Store, StoreUnavailable

pytestmark = pytest.mark.redis


def test_a_timeout_does_not_close_connections_other_threads_are_reading(redis_server):
    # Found by benchmarks/serving.py: under load one request timed out, Store dropped every pooled
    # socket including those other request threads were reading, and they failed with ValueError
    # ("I/O operation on closed file") -> HTTP 500 instead of a degraded 200.
    store = Store(redis_server.url, socket_timeout_s=0.1, backoff_s=0.0)
    pool = store.client.connection_pool
    busy = pool.get_connection()  # another request thread, mid-command
    busy.send_command("ECHO", "still-here")
    with pytest.raises(StoreUnavailable):
        # A real socket timeout: BLPOP waits 1 s on the server, the client gives up after 0.1 s.
        store.run(lambda c: c.blpop(["lambdarec:test:empty"], timeout=1))
    assert busy.read_response() == b"still-here"
    pool.release(busy)
    assert store.run(lambda c: c.ping()) is True  # and the store serves again
    store.close()
