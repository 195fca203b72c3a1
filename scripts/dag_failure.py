"""Prints which task of an `airflow dags test` log failed and why (the end of its output).

python scripts/dag_failure.py LOGFILE
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

RUNNING = re.compile(r"\[DAG TEST\] running task <TaskInstance: [\w-]+\.([\w-]+) ")
OUTPUT = re.compile(r"\[info\s*\]\s(.*?)\s+\[airflow\.task\.hooks\..*SubprocessHook\]")
NOISE = ("graphviz", "You might need to install", "Run `pip install graphviz`")
TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT")


def main() -> int:
    text = Path(sys.argv[1]).read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if not ln.startswith(NOISE)]
    task, out, failure = None, [], None
    for i, ln in enumerate(lines):
        m = RUNNING.search(ln)
        if m:
            task, out = m.group(1), []
            continue
        m = OUTPUT.search(ln)
        if m:
            out.append(m.group(1))
        elif "Task failed with exception" in ln:
            # The traceback follows on lines without a timestamp; its last lines say why.
            tb = []
            for nxt in lines[i + 1 :]:
                if TIMESTAMPED.match(nxt):
                    break
                tb.append(nxt)
            failure = (task, list(out), tb)
    if failure is None:
        print("\n".join(lines[-30:]))
        return 0
    task, out, tb = failure
    print(f"failed task: {task}")
    for ln in out[-30:] + tb[-6:]:
        print(f"  | {ln}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
