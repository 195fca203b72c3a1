"""Run the real ``feast`` CLI on this repo with lambdarec's environment filled in.

Usage: ``python -m feature_repo.feast_cli plan`` (or ``apply``, ``registry-dump`` ...).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from feature_repo.feast_settings import REPO_DIR, FeastSettings


def feast_binary() -> str:
    """The ``feast`` console script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "feast"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("feast")
    if found is None:
        raise SystemExit("error: the feast CLI is not installed in this environment")
    return found


def run_feast(
    args: list[str], settings: FeastSettings, *, capture: bool = False
) -> subprocess.CompletedProcess:
    """Run ``feast <args>`` in the repo directory with the derived variables set."""
    settings.prepare()
    env = {**os.environ, **settings.feast_env()}
    return subprocess.run(
        [feast_binary(), *args], cwd=REPO_DIR, env=env, check=False, capture_output=capture, text=True
    )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return run_feast(args, FeastSettings()).returncode


if __name__ == "__main__":
    raise SystemExit(main())
