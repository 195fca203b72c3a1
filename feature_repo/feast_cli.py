"""Run the real ``feast`` CLI on this repo with lambdarec's environment filled in.

Usage: ``python -m feature_repo.feast_cli plan`` (or ``apply``, ``registry-dump`` ...).

The CLI is Feast's own (``feast.cli.cli``), run in a child process of this environment's
interpreter with the repo as working directory, exactly as the ``feast`` console script does,
but with Feast imported without typeguard's import-time instrumentation
(:mod:`feature_repo.feast_import`): ~3 s less per command.
"""

from __future__ import annotations

import os
import subprocess
import sys

from feature_repo.feast_settings import REPO_DIR, FeastSettings


def feast_command(args: list[str]) -> list[str]:
    """``feast <args>`` as a command line: Feast's CLI in this environment's interpreter."""
    return [sys.executable, "-m", "feature_repo.feast_cli", "--in-process", *args]


def run_feast(
    args: list[str], settings: FeastSettings, *, capture: bool = False
) -> subprocess.CompletedProcess:
    """Run ``feast <args>`` in the repo directory with the derived variables set."""
    settings.prepare()
    env = {**os.environ, **settings.feast_env()}
    return subprocess.run(
        feast_command(args), cwd=REPO_DIR, env=env, check=False, capture_output=capture, text=True
    )


def _feast_in_process(args: list[str]) -> int:
    from feature_repo.feast_import import skip_feast_typechecks

    skip_feast_typechecks()
    from feast.cli.cli import cli

    try:
        cli.main(args=args, prog_name="feast", standalone_mode=True)
    except SystemExit as exc:  # click ends with sys.exit; keep its code
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--in-process"]:
        return _feast_in_process(args[1:])
    return run_feast(args, FeastSettings()).returncode


if __name__ == "__main__":
    raise SystemExit(main())
