"""Helpers shared by the benchmarks: timing subprocesses, peak memory, percentiles, tables."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VENVS = Path(os.environ.get("LAMBDAREC_VENVS", REPO_ROOT / ".venvs"))


def venv_python(env: str) -> str:
    return str(VENVS / env / "bin" / "python")


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float  # largest resident set of the process tree (GNU time %M semantics)
    stdout: str


def timed(cmd: Sequence[str], env: dict[str, str] | None = None, cwd: Path = REPO_ROOT) -> Run:
    """Run a command under GNU time: wall seconds and the peak RSS of its process tree; raise on failure."""
    r = timed_tree(cmd, env, cwd, interval_s=None)
    return Run(r.seconds, r.peak_process_rss_mb, r.stdout)


def percentiles(values: Sequence[float], ps: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    s = sorted(values)
    out = {}
    for p in ps:
        k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
        out[f"p{int(p)}"] = s[k]
    out["median"] = statistics.median(s)
    return out


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = lambda r: "| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=False)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([f"\n## {title}", line(header), sep, *[line(r) for r in rows]])


def free_port_env() -> dict[str, str]:
    """PORT / AIRFLOW_PORT on free loopback ports (the demo's API and Airflow's execution API)."""
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return {"PORT": str(ports[0]), "AIRFLOW_PORT": str(ports[1])}


def _children(pid: int) -> list[int]:
    """Children started by any thread of the process (/proc lists them per thread)."""
    out: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def _label(pid: int) -> str:
    """A short name for a process: java, or the python module / script it runs."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in argv if a]
    if not words:
        return "?"
    name = Path(words[0]).name
    if "-m" in words[:-1]:
        return f"{name} -m {words[words.index('-m') + 1]}"
    return name


def tree_rss(pid: int) -> dict[int, tuple[str, float]]:
    """RSS (MB) of a process and all its descendants right now, from /proc: pid -> (label, MB)."""
    out: dict[int, tuple[str, float]] = {}
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                kb = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
        out[p] = (_label(p), kb / 1024.0)
        stack += _children(p)
    return out


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (its own, not its reaped children's)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def tree_rss_mb(pid: int) -> float:
    """Sum of the resident sets of a process and all its descendants (from /proc, now)."""
    return sum(mb for _, mb in tree_rss(pid).values())


@dataclass
class TreeRun:
    seconds: float
    peak_tree_rss_mb: float  # largest sum of RSS over the whole process tree (JVMs, workers)
    peak_process_rss_mb: float  # largest single process of the tree (GNU time's %M)
    stdout: str
    stderr: str
    peak_by_label: dict[str, float]  # largest RSS seen per kind of process (java, python -m ...)
    # CPU seconds of the tree, from the same samples: a process's last interval and processes
    # shorter than one are missed, so a lower bound; less sensitive to other work than wall time.
    cpu_s: float = 0.0


def timed_tree(cmd: Sequence[str], env: dict[str, str] | None = None, cwd: Path = REPO_ROOT,
               interval_s: float | None = 0.2) -> TreeRun:  # fmt: skip
    """Run a command under GNU time, sampling its process tree's summed RSS from /proc every
    ``interval_s`` (None: no sampling, GNU time's figure only); raise on failure."""
    import threading

    full_env = {**os.environ, **(env or {})}
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            ["/usr/bin/time", "-f", "%M", "-o", tf.name, *cmd],
            env=full_env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        peak = [0.0]
        by_label: dict[str, float] = {}
        cpu: dict[int, float] = {}
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                now = tree_rss(proc.pid)
                peak[0] = max(peak[0], sum(mb for _, mb in now.values()))
                for p, (label, mb) in now.items():
                    by_label[label] = max(by_label.get(label, 0.0), mb)
                    cpu[p] = max(cpu.get(p, 0.0), _cpu_s(p))
                done.wait(interval_s)

        sampler = threading.Thread(target=sample, daemon=True)
        if interval_s is not None:
            sampler.start()
        out, err = proc.communicate()
        done.set()
        if interval_s is not None:
            sampler.join()
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.stderr.write(out[-4000:] + err[-4000:])
            raise SystemExit(f"benchmark step failed: {' '.join(cmd)} (exit {proc.returncode})")
        peak_kb = float(tf.read().strip().splitlines()[-1])
    return TreeRun(seconds, peak[0], peak_kb / 1024.0, out, err, by_label, sum(cpu.values()))
