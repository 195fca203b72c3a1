"""Feature store benchmark: materialization throughput and get_online_features latency."""

from __future__ import annotations

import json
import os

from .common import table, timed, venv_python


def run() -> str:
    rows = int(os.environ.get("LAMBDAREC_BENCH_FEAST_ROWS", "1000000"))
    # In its own process: it starts its own redis-server and registry.
    r = timed([venv_python("pipeline"), "-m", "feature_repo.benchmark", "--rows", str(rows)])
    line = next((ln for ln in reversed(r.stdout.splitlines()) if ln.strip().startswith("{")), None)
    if line is None:
        return "\n## Feast\n" + r.stdout[-3000:]
    f = json.loads(line)
    mat = f.get("materialize", f)
    body = [[k, json.dumps(v) if isinstance(v, dict) else v] for k, v in f.items()]
    head = f"\n(materialization: see rows; whole section {r.seconds:.0f} s, peak {r.peak_rss_mb:.0f} MB)"
    return table(
        f"Feast: materialization of {rows:,} user_features rows and online reads", ["figure", "value"], body
    ) + (head if mat else "")
