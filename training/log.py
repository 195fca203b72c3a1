"""Progress lines of a training run go to stderr (stdout carries only the bundle path)."""

from __future__ import annotations

import sys


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
