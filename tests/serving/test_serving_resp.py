"""serving.resp: the load step's round trips, blocking and awaited, against redis-py and a stalled server."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import redis

from serving.resp import Commands, RespClient
from serving.store import Store, StoreUnavailable

pytestmark = pytest.mark.redis


def _queue(p: Any) -> None:
    p.get("s")
    p.get("missing")
    p.lrange("l", 0, 9)
    p.zrevrange("z1", 0, 1)
    p.hmget("h", [b"f1", b"nope", "f2"])
    p.zunion(["z1", "z2"], withscores=True)
    p.zunion(["z1", "nothing"])


def _fill(r: redis.Redis) -> None:
    r.set("s", b"\x00bytes\r\n")
    r.rpush("l", "a", "b", "c")
    r.zadd("z1", {"x": 1.5, "y": 3.0, "w": -2.0})
    r.zadd("z2", {"x": 2.0, "v": 0.25})
    r.hset("h", mapping={b"f1": b"1", "f2": "two"})


def test_replies_equal_redis_py_pipeline_blocking_and_awaited(redis_server) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/3"  # not db 0: the connection selects it
    r = redis.Redis.from_url(url, protocol=2)
    _fill(r)
    with r.pipeline(transaction=False) as p:
        _queue(p)
        expected = p.execute()
    client = RespClient.for_url(url, 1.0)
    assert client is not None
    blocking, awaited = Commands(), Commands()
    _queue(blocking)
    _queue(awaited)
    assert client.execute(blocking) == expected
    assert asyncio.run(client.execute_async(awaited)) == expected
    assert expected[5] == [
        (b"w", -2.0),
        (b"v", 0.25),
        (b"y", 3.0),
        (b"x", 3.5),
    ]  # the pairs are really compared
    client.close()


def test_an_error_reply_is_refused_without_back_off(redis_server) -> None:
    r = redis.Redis.from_url(redis_server.url)
    r.rpush("a-list", "x")
    store = Store(redis_server.url, socket_timeout_s=1.0, backoff_s=30.0)
    with pytest.raises(StoreUnavailable, match=r"refused the command \(WRONGTYPE\)"):
        asyncio.run(store.commands_async(lambda p: (p.get("s"), p.get("a-list"))))
    assert store.up  # reachable: no back-off
    assert asyncio.run(store.commands_async(lambda p: p.lrange("a-list", 0, -1))) == [[b"x"]]
    store.close()


def test_a_stalled_server_times_out_backs_off_and_never_holds_the_loop() -> None:
    # Accepts connections (the kernel's backlog) and never answers: a Redis that hangs.
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(8)
    store = Store(f"redis://127.0.0.1:{stalled.getsockname()[1]}/0", socket_timeout_s=0.2, backoff_s=30.0)
    ticks = 0

    async def other_requests() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    async def main() -> str:
        other = asyncio.create_task(other_requests())
        try:
            await store.commands_async(lambda p: p.get("k"))
        except StoreUnavailable as e:
            return str(e)
        finally:
            other.cancel()
        return "answered"

    assert asyncio.run(main()) == "redis unreachable (TimeoutError)"
    assert ticks > 10  # the loop ran other work while this round trip waited
    assert not store.up  # backed off: the next request degrades at once
    with pytest.raises(StoreUnavailable, match="back-off"):
        asyncio.run(store.commands_async(lambda p: p.get("k")))
    store.close()
    stalled.close()


def test_an_idle_connection_closed_by_the_server_is_replaced_before_use(redis_server) -> None:
    # A Redis restart or its idle timeout closes pooled connections: the next request must not
    # degrade (nor back the store off) for it.
    r = redis.Redis.from_url(redis_server.url)
    r.set("k", "v")
    store = Store(redis_server.url, socket_timeout_s=1.0, backoff_s=30.0)
    assert asyncio.run(store.commands_async(lambda p: p.get("k"))) == [b"v"]
    assert store.resp is not None
    assert r.client_kill_filter(_type="normal", skipme=True) >= 1  # the idle pooled one among them
    assert asyncio.run(store.commands_async(lambda p: p.get("k"))) == [b"v"]
    assert store.commands(lambda p: p.get("k")) == [b"v"]
    assert store.up
    store.close()
