"""docker/healthcheck.py against a real HTTP server and a real Redis stream consumer group."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
from docker_test_helpers import DOCKER_DIR, REPO_ROOT

sys.path.insert(0, str(DOCKER_DIR))
import healthcheck  # noqa: E402  (docker/ is not a package: the images run it as a script)

STREAM = "lambdarec:events"
GROUP = "speed-layer"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        code = 200 if self.path == "/healthz" else 503
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_check(http_base: str) -> None:
    assert healthcheck.check_http(f"{http_base}/healthz", 2.0) is None
    assert healthcheck.check_http(f"{http_base}/other", 2.0) == f"{http_base}/other answered HTTP 503"
    closed = healthcheck.check_http("http://127.0.0.1:9/healthz", 1.0)
    assert closed is not None and "unreachable" in closed


def test_judge_lag_on_hand_made_ids() -> None:
    assert healthcheck.judge_lag(None, 10_000_000, 1_000) is None  # nothing waiting
    assert healthcheck.judge_lag("1000-0", 1_500, 1_000) is None  # waited 500 ms
    assert healthcheck.judge_lag("1000-7", 2_500, 1_000) == (
        "entry 1000-7 has waited 1500 ms for the consumer group (limit 1000 ms)"
    )


def _server_ms(r: redis.Redis) -> int:
    seconds, micros = r.time()
    return seconds * 1000 + micros // 1000


@pytest.mark.redis
def test_stream_consumer_check_follows_the_worker(redis_server: Any) -> None:
    url = redis_server.url
    r = redis.Redis.from_url(url)
    # No stream yet: the worker never started.
    problem = healthcheck.check_stream_consumer(url, STREAM, GROUP, 120)
    assert problem is not None and problem.startswith(f"stream {STREAM!r}: ")
    r.xgroup_create(STREAM, "someone-else", id="0", mkstream=True)
    assert healthcheck.check_stream_consumer(url, STREAM, GROUP, 120) == (
        f"stream {STREAM!r} has no consumer group {GROUP!r}"
    )
    r.xgroup_create(STREAM, GROUP, id="0")
    assert healthcheck.check_stream_consumer(url, STREAM, GROUP, 120) is None  # idle stream
    # An event appended 10 minutes ago that nobody read: the worker is not keeping up.
    old_id = f"{_server_ms(r) - 600_000}-0"
    r.xadd(STREAM, {"kind": "event"}, id=old_id)
    stale = healthcheck.check_stream_consumer(url, STREAM, GROUP, 120)
    assert stale is not None and stale.startswith(f"entry {old_id} has waited ")
    waited_ms = int(stale.split("has waited ")[1].split(" ms")[0])
    assert 600_000 <= waited_ms < 660_000
    # The worker reads it (delivery advances the group; acking is the worker's business).
    r.xreadgroup(GROUP, "worker-a", {STREAM: ">"}, count=10)
    assert healthcheck.check_stream_consumer(url, STREAM, GROUP, 120) is None
    # A fresh entry has not waited long yet.
    r.xadd(STREAM, {"kind": "event"})
    assert healthcheck.check_stream_consumer(url, STREAM, GROUP, 120) is None
    r.close()


@pytest.mark.redis
def test_stream_consumer_check_when_redis_is_down(redis_server: Any) -> None:
    url = redis_server.url
    redis_server.stop()
    problem = healthcheck.check_stream_consumer(url, STREAM, GROUP, 120)
    assert problem is not None and problem.startswith("redis unreachable")


@pytest.mark.redis
def test_cli_exit_codes_as_docker_runs_it(redis_server: Any) -> None:
    """The exact command of the worker image's HEALTHCHECK, with REDIS_URL from the environment."""
    cmd = [sys.executable, str(DOCKER_DIR / "healthcheck.py"), "stream-consumer", "--max-lag-s", "120"]
    env = {**os.environ, "REDIS_URL": redis_server.url}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, env=env, cwd="/", capture_output=True, text=True, timeout=60)

    before = run()
    assert before.returncode == 1
    assert before.stderr.startswith(f"unhealthy: stream {STREAM!r}: ")
    r = redis.Redis.from_url(redis_server.url)
    r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    r.xadd(STREAM, {"kind": "event"}, id=f"{_server_ms(r) - 600_000}-0")
    stuck = run()
    assert stuck.returncode == 1 and "has waited" in stuck.stderr
    r.xreadgroup(GROUP, "worker-a", {STREAM: ">"}, count=10)
    r.close()
    after = run()
    assert after.returncode == 0, after.stderr
    assert after.stderr == ""


def test_contract_names_are_what_the_check_defaults_to() -> None:
    from lambdarec_contracts import redis_keys

    assert (redis_keys.EVENTS_STREAM, redis_keys.EVENTS_GROUP) == (STREAM, GROUP)
    assert (REPO_ROOT / "docker" / "healthcheck.py").is_file()
