"""The serving process under load: ``scripts/serve.sh`` on loopback, driven by ``benchmarks.loadgen``.

Each phase diffs the server's ``/metrics`` and the CPU seconds of the server and of redis-server
around one load-generator run (its own process, pipeline env).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from testing_support.redis_server import free_port

from .common import REPO_ROOT, VENVS, venv_python
from .metrics import Samples, diff_metrics, parse_metrics


def stop_process_group(proc: subprocess.Popen | None, grace_s: float) -> None:
    """SIGTERM a process started with ``start_new_session=True`` and its group (serve.sh execs
    uvicorn, which shuts down gracefully on TERM), SIGKILL after ``grace_s``."""
    if proc is None or proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class ServingProcess:
    """``scripts/serve.sh`` (uvicorn serving.app:create_app --factory, serving env) on loopback."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        env = {**os.environ, **self.env, "HOST": "127.0.0.1", "PORT": str(self.port), "WORKERS": "1"}
        env["LAMBDAREC_VENVS"] = str(VENVS)
        with self.log_path.open("wb") as log:
            # Own session: stop() signals exactly this process group (serve.sh execs uvicorn).
            self.proc = subprocess.Popen(
                ["bash", str(REPO_ROOT / "scripts" / "serve.sh")],
                env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise SystemExit(f"serving did not become ready on port {self.port}:\n{tail}")

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process so far (uvicorn with 1 worker: one process)."""
        if self.proc is None:
            return math.nan
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.base_url}{path}", timeout=10) as r:
            return r.read().decode()

    def stop(self) -> None:
        stop_process_group(self.proc, grace_s=10)
        self.proc = None


@dataclass
class LoadResult:
    name: str
    wall_s: float
    latencies_ms: list[float]
    ok_clean: list[bool]  # aligned with latencies_ms: a 200 that was not degraded
    statuses: dict[str, int]
    degraded: int
    cached: int
    degraded_reasons: dict[str, int]
    metrics: Samples
    server_cpu_s: float  # CPU seconds the serving process used during the phase
    redis_cpu_s: float  # CPU seconds redis-server used during the phase

    @property
    def n(self) -> int:
        return len(self.latencies_ms)

    @property
    def non_200(self) -> int:
        return sum(v for k, v in self.statuses.items() if k != "200")


def run_load(
    server: ServingProcess, name: str, paths: Sequence[str], concurrency: int, workdir: Path
) -> LoadResult:
    """Drive ``paths`` through benchmarks.loadgen (own process) and diff /metrics around it."""
    paths_file = workdir / f"paths-{name.replace(' ', '_')}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    before = parse_metrics(server.get("/metrics"))
    cpu0, redis_cpu0 = server.cpu_s(), redis_cpu_s(server.env["REDIS_URL"])
    proc = subprocess.run(
        [venv_python("pipeline"), "-m", "benchmarks.loadgen", "--base-url", server.base_url,
         "--paths-file", str(paths_file), "--concurrency", str(concurrency)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"load generator failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu, redis_cpu = server.cpu_s() - cpu0, redis_cpu_s(server.env["REDIS_URL"]) - redis_cpu0
    after = parse_metrics(server.get("/metrics"))
    doc = json.loads(proc.stdout)
    return LoadResult(
        name,
        doc["wall_s"],
        doc["latencies_ms"],
        doc["ok_clean"],
        doc["statuses"],
        doc["degraded"],
        doc["cached"],
        doc["degraded_reasons"],
        diff_metrics(before, after),
        cpu,
        redis_cpu,
    )


def redis_cpu_s(url: str) -> float:
    """used_cpu_user + used_cpu_sys of the redis-server (INFO cpu)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
