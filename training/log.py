"""Progress lines of a training run go to stderr (stdout carries only the bundle path)."""

from __future__ import annotations

import os
import resource
import sys


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rss_mb() -> tuple[float, float]:
    """This process's resident memory now and its peak so far, in MB (the OS's accounting)."""
    with open("/proc/self/statm") as f:
        now = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return now, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
