"""The request path's Redis round trips: commands packed once, replies parsed by hiredis, and
awaited on the event loop, so one request's wait for Redis overlaps the others' work.

redis-py's blocking client would hold the loop for the whole round trip, and ``redis.asyncio``'s
Python transport costs more CPU than the round trip saves. Here a round trip is one ``send`` of
the packed pipeline, then the connection's socket is watched by the loop (``add_reader``) and
hiredis parses what arrives. The same connections also serve blocking callers (threads, the
benchmarks). Only what the load step queues is supported (``Commands`` mimics those methods of
redis-py's pipeline). ``redis://`` URLs only (``RespClient.for_url`` returns None otherwise: the
caller keeps redis-py). Errors are redis-py's classes, so ``Store`` maps them as before.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
import redis
from redis.connection import parse_url


def bulk(b: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(b), b)


def pack(args: Sequence[Any]) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if type(a) is bytes else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))  # bulk(b), inlined: this runs per argument per request
    return b"".join(out)


def _pairs(reply: list[Any]) -> list[tuple[bytes, float]]:
    return [(reply[i], float(reply[i + 1])) for i in range(0, len(reply), 2)]


class Commands:
    """Records commands the way redis-py's pipeline is called (the load step's subset)."""

    def __init__(self) -> None:
        self.packed: list[bytes] = []
        self.post: list[Callable[[Any], Any] | None] = []

    def _add(self, post: Callable[[Any], Any] | None, *args: Any) -> None:
        self.packed.append(pack(args))
        self.post.append(post)

    def get(self, key: Any) -> None:
        self._add(None, "GET", key)

    def set(self, key: Any, value: Any, px: int | None = None) -> None:
        self._add(None, "SET", key, value, *(("PX", px) if px is not None else ()))

    def lrange(self, key: Any, start: int, end: int) -> None:
        self._add(None, "LRANGE", key, start, end)

    def zrevrange(self, key: Any, start: int, end: int) -> None:
        self._add(None, "ZREVRANGE", key, start, end)

    def hmget(self, key: Any, fields: list[Any]) -> None:
        self._add(None, "HMGET", key, *fields)

    def zunion(self, keys: list[Any], withscores: bool = False) -> None:
        if withscores:
            self._add(_pairs, "ZUNION", len(keys), *keys, "WITHSCORES")
        else:
            self._add(None, "ZUNION", len(keys), *keys)

    def replies(self, raw: list[Any]) -> list[Any]:
        """Replies as redis-py (RESP2) returns them; the first error reply is raised."""
        out = []
        for r, post in zip(raw, self.post, strict=True):
            if isinstance(r, hiredis.ReplyError):
                raise redis.ResponseError(str(r))
            out.append(r if post is None else post(r))
        return out


class _Conn:
    __slots__ = ("reader", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = hiredis.Reader()

    def idle_ok(self) -> bool:
        """Nothing to read on an idle connection: not closed by the server (restart, idle timeout)."""
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return False  # EOF, or bytes nobody asked for

    def read(self, out: list[Any], n: int) -> None:
        """Everything the socket has now, parsed into ``out`` (up to ``n`` replies)."""
        data = self.sock.recv(65536)
        if not data:
            raise redis.ConnectionError("connection closed by server")
        self.reader.feed(data)
        while len(out) < n:
            r = self.reader.gets()
            if r is False:
                return
            out.append(r)


class RespClient:
    """A stack of idle connections; each round trip takes one (or opens one) and gives it back."""

    def __init__(self, host: str, port: int, db: int, username: str | None, password: str | None,
                 timeout_s: float) -> None:  # fmt: skip
        self.addr, self.db, self.auth = (host, port), db, (username, password)
        self.timeout_s = timeout_s
        self._idle: list[_Conn] = []

    @classmethod
    def for_url(cls, url: str, timeout_s: float) -> RespClient | None:
        if not url.startswith("redis://"):
            return None
        kw = parse_url(url)
        return cls(kw.get("host", "localhost"), int(kw.get("port", 6379)), int(kw.get("db", 0)),
                   kw.get("username"), kw.get("password"), timeout_s)  # fmt: skip

    def _connect(self) -> _Conn:
        try:
            sock = socket.create_connection(self.addr, timeout=self.timeout_s)
        except TimeoutError as e:
            raise redis.TimeoutError("connect timed out") from e
        except OSError as e:
            raise redis.ConnectionError(f"connect failed ({type(e).__name__})") from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(sock)
        hello = Commands()
        user, password = self.auth
        if password:
            hello._add(None, "AUTH", *([user] if user else []), password)
        if self.db:
            hello._add(None, "SELECT", self.db)
        try:
            if hello.packed:
                self._blocking(conn, hello)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        return conn

    def _blocking(self, conn: _Conn, cmds: Commands) -> list[Any]:
        conn.sock.settimeout(self.timeout_s)
        try:
            conn.sock.sendall(b"".join(cmds.packed))
            out: list[Any] = []
            end = time.monotonic() + self.timeout_s
            while len(out) < len(cmds.packed):
                conn.sock.settimeout(max(1e-3, end - time.monotonic()))
                conn.read(out, len(cmds.packed))
        except TimeoutError as e:
            raise redis.TimeoutError("redis reply timed out") from e
        finally:
            conn.sock.setblocking(False)
        return cmds.replies(out)

    def _take(self) -> _Conn:
        while True:
            try:
                conn = self._idle.pop()  # atomic: threads and the loop share the stack
            except IndexError:
                return self._connect()
            if conn.idle_ok():
                return conn
            conn.sock.close()

    def execute(self, cmds: Commands) -> list[Any]:
        """One blocking round trip (threads): bounded by the timeout."""
        conn = self._take()
        try:
            replies = self._blocking(conn, cmds)
        except BaseException:
            conn.sock.close()  # its state is unknown: never reused
            raise
        self._idle.append(conn)
        return replies

    async def execute_async(self, cmds: Commands) -> list[Any]:
        """One round trip awaited on the running loop: bounded by the timeout."""
        conn = self._take()
        loop = asyncio.get_running_loop()
        n = len(cmds.packed)
        out: list[Any] = []
        fut = loop.create_future()

        def readable() -> None:
            try:
                conn.read(out, n)
            except BlockingIOError:
                return
            except Exception as e:
                if not fut.done():
                    fut.set_exception(e)
                return
            if len(out) >= n and not fut.done():
                fut.set_result(None)

        def timed_out() -> None:
            if not fut.done():
                fut.set_exception(redis.TimeoutError("redis reply timed out"))

        fd = conn.sock.fileno()
        try:
            data = b"".join(cmds.packed)
            if conn.sock.send(data) != len(data):  # a full socket buffer: rare, finish blocking
                raise redis.ConnectionError("partial send")
            loop.add_reader(fd, readable)
            timer = loop.call_later(self.timeout_s, timed_out)
            try:
                await fut
            finally:
                timer.cancel()
                loop.remove_reader(fd)
        except BaseException:
            conn.sock.close()  # its state is unknown: never reused
            raise
        self._idle.append(conn)
        return cmds.replies(out)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().sock.close()
