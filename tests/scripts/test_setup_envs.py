"""scripts/setup_envs.sh resolves every package from the default index; a local wheel folder is opt-in.

The embed env used to pin ``torch==...+cpu`` found through a wheel folder only build machines have.
These tests build the embed env the way a fresh machine would: ``LAMBDAREC_WHEELS_DIR`` unset, no
``--find-links`` in the environment, and the build machines' wheel folder hidden (an empty
directory bind-mounted over it in a private mount namespace, when there is one to hide).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP = REPO_ROOT / "scripts" / "setup_envs.sh"
BUILD_MACHINE_WHEELS = Path("/opt/wheels")  # where the old lock's torch came from


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"LAMBDAREC_WHEELS_DIR", "UV_FIND_LINKS", "PIP_FIND_LINKS", "UV_INDEX", "UV_EXTRA_INDEX_URL"}
        and not k.startswith("PYTHONPATH")
    }
    env["LAMBDAREC_VENVS"] = str(tmp_path / "venvs")
    return env


def _hidden(cmd: list[str], empty: Path) -> list[str]:
    """``cmd`` with BUILD_MACHINE_WHEELS replaced by an empty folder (for this process tree only)."""
    if not BUILD_MACHINE_WHEELS.exists():
        return cmd  # nothing to hide on this machine
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail(f"cannot hide {BUILD_MACHINE_WHEELS} here (needs root and unshare)")
    script = 'mount --bind "$0" "$1" && test -z "$(ls -A "$1")" && exec "${@:2}"'
    return ["unshare", "--mount", "bash", "-c", script, str(empty), str(BUILD_MACHINE_WHEELS), *cmd]


def test_locks_pin_only_index_versions() -> None:
    # A local version label (``+cpu``) exists only on a private index or a wheel folder.
    for lock in (REPO_ROOT / "requirements").glob("*.lock"):
        local = re.findall(r"^([A-Za-z0-9_.-]+==[^\s+]+\+\S+)", lock.read_text(), re.M)
        assert not local, f"{lock.name} pins local versions {local}"
    assert "torch" not in (REPO_ROOT / "requirements" / "embed.lock").read_text()


def test_wheels_dir_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    env = {**_clean_env(tmp_path), "LAMBDAREC_WHEELS_DIR": str(tmp_path / "no-such-folder")}
    proc = subprocess.run(
        ["bash", str(SETUP), "embed"], env=env, capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert proc.returncode == 1
    assert "LAMBDAREC_WHEELS_DIR" in proc.stderr and "not a directory" in proc.stderr
    assert not (tmp_path / "venvs").exists()


@pytest.mark.slow
def test_embed_env_sets_up_without_the_wheel_folder_and_embeds(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = _clean_env(tmp_path)
    proc = subprocess.run(
        _hidden(["bash", str(SETUP), "embed"], empty),
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    python = tmp_path / "venvs" / "embed" / "bin" / "python"
    smoke = (
        "import importlib.util, numpy as np\n"
        "from jobs.embeddings.providers import LocalProvider\n"
        "assert importlib.util.find_spec('torch') is None, 'torch was installed'\n"
        "v = LocalProvider().embed(['a quiet drama about family', 'space aliens attack']).vectors\n"
        "assert v.shape == (2, 384), v.shape\n"
        "print(round(float(np.linalg.norm(v[0])), 4))\n"
    )
    run = subprocess.run([str(python), "-c", smoke], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "1.0"
