"""Parsers the docker/ tests share: Dockerfile instructions, .dockerignore, PromQL metric names.

Small and stdlib-only on purpose: each one is itself tested on hand-written input
(test_docker_helpers.py), so a test that passes because a parser found nothing cannot hide.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
DASHBOARD_DIR = DOCKER_DIR / "grafana" / "dashboards"
PROMETHEUS_FILE = DOCKER_DIR / "prometheus" / "prometheus.yml"


# --------------------------------------------------------------------------- Dockerfiles
@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the (joined) line
    line: int  # 1-based line of the instruction's first line


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comment lines dropped (as BuildKit does)."""
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].strip())
            continue
        buf.append(stripped)
        joined = " ".join(p for p in buf if p)
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = []
    if buf:
        raise ValueError(f"Dockerfile ends inside a continued instruction (line {start})")
    return out


def stages(instructions: list[Instruction]) -> list[Stage]:
    """Split instructions into build stages (``FROM image [AS name]``)."""
    result: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            parts = ins.args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            result.append(Stage(base=parts[0], name=name))
        elif not result:
            if ins.keyword != "ARG":
                raise ValueError(f"{ins.keyword} before the first FROM (line {ins.line})")
        else:
            result[-1].instructions.append(ins)
    return result


def exec_form(args: str) -> list[str]:
    """``["a", "b"]`` (JSON exec form) or shell form split like a shell would."""
    args = args.strip()
    if args.startswith("["):
        value = json.loads(args)
        if not all(isinstance(v, str) for v in value):
            raise ValueError(f"exec form must be a list of strings: {args}")
        return value
    return shlex.split(args)


def copy_sources(ins: Instruction) -> list[str]:
    """Build-context sources of a COPY (none for ``COPY --from=stage``)."""
    parts = [p for p in exec_form(ins.args)]
    flags = [p for p in parts if p.startswith("--")]
    if any(f.startswith("--from=") for f in flags):
        return []
    paths = [p for p in parts if not p.startswith("--")]
    return paths[:-1]


# --------------------------------------------------------------------------- .dockerignore
def dockerignore_patterns(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """True when ``path`` (relative to the context) or one of its parents is excluded.

    Supports what docker/.dockerignore uses: plain paths, globs, ``**/`` prefixes and ``!``
    exceptions (last match wins, as in Docker).
    """
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pat = raw[1:] if negate else raw
        pat = pat.strip("/")
        for cand in candidates:
            if _match(cand, pat):
                excluded = not negate
                break
    return excluded


def _match(path: str, pattern: str) -> bool:
    if pattern.startswith("**/"):
        rest = pattern[3:]
        segs = path.split("/")
        return any(_match("/".join(segs[i:]), rest) for i in range(len(segs)))
    if pattern.count("/") != path.count("/"):
        return False
    return all(fnmatch.fnmatchcase(s, p) for s, p in zip(path.split("/"), pattern.split("/"), strict=True))


# --------------------------------------------------------------------------- PromQL
_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
# Numbers and durations ("0.95", "1h", "5m30s"), so a unit letter is not read as a name.
_NUMBER = re.compile(r"(?<![A-Za-z0-9_:])\d[0-9.]*(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_IN_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


@dataclass
class PromQLRefs:
    metrics: set[str]
    labels: set[str]


def promql_refs(expr: str) -> PromQLRefs:
    """Metric names and label names an expression refers to (enough PromQL for dashboards)."""
    labels: set[str] = set()
    # Strings first: a label value like "hit" or ".*recommend.*" is neither metric nor label.
    text = _STRING.sub('""', expr)
    for body in _MATCHERS.findall(text):
        labels.update(_LABEL_IN_MATCHER.findall(body))
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    for _kw, names in _GROUPING.findall(text):
        labels.update(n.strip() for n in names.split(",") if n.strip())
    text = _GROUPING.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    metrics: set[str] = set()
    for m in _IDENT.finditer(text):
        name = m.group(0)
        following = text[m.end() :].lstrip()
        if following.startswith("("):
            continue  # a function or an aggregation
        if name.lower() in _KEYWORDS:
            continue
        metrics.add(name)
    return PromQLRefs(metrics=metrics, labels=labels)


def dashboard_exprs(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expr) for every query of every panel, rows included."""
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict]) -> None:
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))

    walk(dashboard.get("panels", []))
    return out


# --------------------------------------------------------------------------- exposition
def exported_series(exposition: str) -> dict[str, str]:
    """Sample names a Prometheus text exposition can contain -> family type, from its TYPE lines.

    Families with labels and no observation yet have no samples, so the TYPE lines (always
    written) are the complete list; the suffixes follow the exposition format.
    """
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "gauge": ("",),
        "untyped": ("",),
        "info": ("_info",),
        "stateset": ("",),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    }
    out: dict[str, str] = {}
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            kind = kind.strip()
            if kind == "counter":
                # prometheus_client writes "x_total" or "x" on the TYPE line depending on version.
                name = name.removesuffix("_total")
            for s in suffixes[kind]:
                out[name + s] = kind
    return out
