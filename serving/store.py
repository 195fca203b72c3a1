"""Redis access for serving: short timeouts, no retries, and a brief back-off after a failure.

A dead Redis must cost a request at most one fast failure, and the service must pick Redis
up again by itself: after ``backoff_s`` the next call simply tries again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .resp import Commands, RespClient

T = TypeVar("T")


class StoreUnavailable(RuntimeError):
    """Redis is down, timed out or refused the command (OOM, READONLY, ...): the caller degrades.

    The message names the kind of failure only: redis-py's messages carry hosts and ports, which
    must not reach a response.
    """


# Connection-level failures: the server is gone, so back off before the next attempt.
_CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


class Store:
    def __init__(self, url: str, socket_timeout_s: float, backoff_s: float) -> None:
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            max_connections=64,
        )
        # The load step's round trips (awaited on the event loop); None: a URL it does not speak.
        self.resp = RespClient.for_url(url, socket_timeout_s)
        self.backoff_s = backoff_s
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._memo: dict[Any, tuple[float, Any]] = {}

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def run(self, fn: Callable[[redis.Redis], T]) -> T:
        """Run ``fn(client)``; every Redis error becomes StoreUnavailable (never a 500)."""
        if not self.up:
            raise StoreUnavailable("redis marked down (back-off)")
        try:
            return fn(self.client)
        except (redis.RedisError, OSError) as e:
            raise self._failed(e) from e

    def commands(self, queue: Callable[[Any], None]) -> list[Any]:
        """``queue``'s commands (``resp.Commands``' subset of a pipeline) in one blocking round trip."""
        if self.resp is None:
            return self.pipeline(queue)
        cmds = Commands()
        queue(cmds)
        return self.run(lambda _: self.resp.execute(cmds))  # type: ignore[union-attr]

    async def commands_async(self, queue: Callable[[Any], None]) -> list[Any]:
        """The same round trip awaited on the running loop (blocking when ``resp`` is None)."""
        if self.resp is None:
            return self.pipeline(queue)
        if not self.up:
            raise StoreUnavailable("redis marked down (back-off)")
        cmds = Commands()
        queue(cmds)
        try:
            return await self.resp.execute_async(cmds)
        except (redis.RedisError, OSError) as e:
            raise self._failed(e) from e

    def _failed(self, e: Exception) -> StoreUnavailable:
        if isinstance(e, _CONNECTION_ERRORS):
            with self._lock:
                self._down_until = time.monotonic() + self.backoff_s
            # Drop idle pooled sockets so the next attempt reconnects cleanly. Not the in-use ones:
            # other request threads are reading them, and closing a socket under a reader raises
            # ValueError/EBADF there (a 500), not a ConnectionError. redis-py already closed the
            # connection that failed.
            self.client.connection_pool.disconnect(inuse_connections=False)
            if self.resp is not None:
                self.resp.close()
            return StoreUnavailable(f"redis unreachable ({type(e).__name__})")
        # The server answered with an error (OOM, READONLY, MASTERDOWN, LOADING, BUSY, ...):
        # no back-off (it is reachable), but the caller degrades all the same. Only the error
        # code goes into the message, never the server's text.
        code = str(e).split(" ", 1)[0] if isinstance(e, redis.ResponseError) else type(e).__name__
        return StoreUnavailable(f"redis refused the command ({code[:40]})")

    def memo(self, key: Any, ttl_s: float, fn: Callable[[redis.Redis], T]) -> T:
        """``run(fn)``, reusing a result younger than ``ttl_s`` for the same key (global reads only).

        For reads that are the same for every user (trending), so a busy server asks Redis once
        per TTL instead of once per request. Failures are not cached.
        """
        if ttl_s <= 0:
            return self.run(fn)
        now = time.monotonic()
        hit = self._memo.get(key)
        if hit is not None and now - hit[0] < ttl_s:
            return hit[1]  # type: ignore[no-any-return]
        value = self.run(fn)
        with self._lock:
            if len(self._memo) > 64:  # keys embed the hour bucket: drop the stale ones
                self._memo.clear()
            self._memo[key] = (now, value)
        return value

    def pipeline(self, queue: Callable[[Any], None]) -> list[Any]:
        """One non-transactional pipeline round trip."""

        def go(c: redis.Redis) -> list[Any]:
            with c.pipeline(transaction=False) as p:
                queue(p)
                return p.execute()

        return self.run(go)

    def ping(self) -> bool:
        """Checks Redis even during back-off (readiness must see recovery promptly)."""
        try:
            ok = bool(self.client.ping())
        except _CONNECTION_ERRORS:
            self.client.connection_pool.disconnect(inuse_connections=False)
            return False
        except redis.RedisError:  # LOADING, MASTERDOWN, ...: reachable but not serving
            return False
        if ok:
            self._down_until = 0.0
        return ok

    def close(self) -> None:
        self.client.close()
        if self.resp is not None:
            self.resp.close()
