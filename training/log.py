"""Progress lines of a training run go to stderr (stdout carries only the bundle path)."""

from __future__ import annotations

import contextlib
import ctypes
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


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim``; nothing elsewhere), so
    the RSS between steps is what is alive, not what an earlier step freed."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
