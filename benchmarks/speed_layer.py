"""Speed-layer benchmark: the stream worker's throughput (``jobs.speed_layer.benchmark``).

    python -m benchmarks.run --sections speed_layer       # as part of `make bench`
    python -m benchmarks.speed_layer [--events 20000] [--push-events 3000]

Its own redis-server and temporary data dir; the project's ``feature_repo/`` is applied there
first, because the Feast-push run writes through Feast's push API. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from testing_support.redis_server import RedisServer

from .common import REPO_ROOT, table, venv_python

_APPENDED = re.compile(r"appended (\d+) events in ([\d.]+)s")
_WORKER = re.compile(
    r"worker \(push (\w+), batch (\d+)\): (\d+) events, (\d+) batches in ([\d.]+)s -> ([\d,]+) events/s"
)


def speed_layer_rows(redis_url_db: str, data_dir: Path, events: int, push_events: int) -> list[list[str]]:
    """jobs.speed_layer.benchmark in the pipeline env (no push, then Feast push), parsed into rows."""
    import redis

    rows = []
    env = {**os.environ, "REDIS_URL": redis_url_db, "LAMBDAREC_DATA_DIR": str(data_dir)}
    for push, n in (("none", events), ("feast", push_events)):
        redis.Redis.from_url(redis_url_db).flushdb()
        proc = subprocess.run(
            [venv_python("pipeline"), "-m", "jobs.speed_layer.benchmark", "--events", str(n), "--push", push],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        a, w = _APPENDED.search(proc.stdout), _WORKER.search(proc.stdout)
        if proc.returncode != 0 or not a or not w:
            rows.append(
                [f"push {push}", str(n), "failed", (proc.stderr or proc.stdout).strip()[-160:], "", ""]
            )
            continue
        rows.append(
            [f"push {push}", w.group(3), w.group(2), w.group(4), f"{float(w.group(5)):.2f}", w.group(6)]
        )
    return rows


def run(events: int = 20000, push_events: int = 3000) -> str:
    """The speed_layer section of `make bench` (Markdown)."""
    from feature_repo.feast_cli import run_feast
    from feature_repo.feast_settings import FeastSettings

    tmp = Path(tempfile.mkdtemp(prefix="lambdarec-bench-speed-"))
    try:
        with RedisServer(workdir=tmp, durable=False) as redis_server:
            data_dir = tmp / "data"
            data_dir.mkdir()
            applied = run_feast(
                ["apply"],
                FeastSettings(LAMBDAREC_DATA_DIR=str(data_dir), REDIS_URL=redis_server.url),
                capture=True,
            )
            if applied.returncode != 0:
                raise SystemExit(f"feast apply failed:\n{applied.stdout[-2000:]}{applied.stderr[-2000:]}")
            redis_db1 = redis_server.url.rsplit("/", 1)[0] + "/1"
            return table(
                "Speed layer: stream worker throughput (jobs.speed_layer.benchmark, own redis-server, db 1)",
                ["worker", "events", "batch", "batches", "s", "events/s"],
                speed_layer_rows(redis_db1, data_dir, events, push_events),
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.speed_layer", description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20000, help="events of the run without Feast push")
    ap.add_argument("--push-events", type=int, default=3000, help="events of the run with Feast push")
    a = ap.parse_args(argv)
    print(run(a.events, a.push_events))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
