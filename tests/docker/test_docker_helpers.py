"""The parsers behind the docker/ checks, on hand-written input with hand-derived answers."""

from __future__ import annotations

from docker_test_helpers import (
    copy_sources,
    dockerignored,
    exported_series,
    parse_dockerfile,
    promql_refs,
    stages,
)

DOCKERFILE = """\
# a comment
FROM python:3.11.14-slim-bookworm AS builder
RUN a \\
 # a comment inside the continuation
 && b
COPY requirements/x.lock /tmp/x.lock

FROM python:3.11.14-slim-bookworm
COPY --from=builder /opt/v /opt/v
COPY lambdarec_contracts/ serving/ /app/
USER 10001:10001
CMD ["uvicorn", "serving.app:create_app", "--factory"]
"""


def test_parse_dockerfile_joins_continuations_and_splits_stages() -> None:
    ins = parse_dockerfile(DOCKERFILE)
    assert [i.keyword for i in ins] == ["FROM", "RUN", "COPY", "FROM", "COPY", "COPY", "USER", "CMD"]
    assert ins[1].args == "a && b"
    assert ins[1].line == 3
    st = stages(ins)
    assert [(s.base, s.name) for s in st] == [
        ("python:3.11.14-slim-bookworm", "builder"),
        ("python:3.11.14-slim-bookworm", None),
    ]
    copies = st[1].all("COPY")
    assert copy_sources(copies[0]) == []  # from a stage, not the context
    assert copy_sources(copies[1]) == ["lambdarec_contracts/", "serving/"]
    assert copy_sources(st[0].all("COPY")[0]) == ["requirements/x.lock"]


def test_dockerignored_matches_parents_globs_and_exceptions() -> None:
    pats = [".venvs", "**/__pycache__", "dbt/target", "*.egg-info", "tests", "!tests/keep.txt"]
    assert dockerignored(".venvs/pipeline/bin/python", pats)
    assert dockerignored("serving/__pycache__/app.cpython-311.pyc", pats)
    assert dockerignored("dbt/target/manifest.json", pats)
    assert dockerignored("lambdarec.egg-info", pats)
    assert not dockerignored("dbt/models/x.sql", pats)
    assert not dockerignored("serving/app.py", pats)
    assert dockerignored("tests/docker/x.py", pats)
    assert not dockerignored("tests/keep.txt", pats)


def test_promql_refs_separates_metrics_labels_functions_and_strings() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, stage) (rate(a_seconds_bucket{endpoint=~".*rec.*"}[5m])))'
        ' / on (instance) group_left sum without (job) (increase(b_total{result="hit"}[$__rate_interval]))'
        " > bool 0.5 or max(c_ratio) offset 1h"
    )
    refs = promql_refs(expr)
    assert refs.metrics == {"a_seconds_bucket", "b_total", "c_ratio"}
    assert refs.labels == {"le", "stage", "endpoint", "instance", "job", "result"}


def test_exported_series_from_type_lines() -> None:
    text = (
        "# HELP x_total things\n# TYPE x counter\n"
        "# HELP y_total things\n# TYPE y_total counter\n"
        "# HELP h_seconds latency\n# TYPE h_seconds histogram\n"
        'h_seconds_bucket{le="1.0"} 1.0\n'
        "# HELP g level\n# TYPE g gauge\n"
    )
    series = exported_series(text)
    assert set(series) == {
        "x_total",
        "x_created",
        "y_total",
        "y_created",
        "h_seconds_bucket",
        "h_seconds_sum",
        "h_seconds_count",
        "h_seconds_created",
        "g",
    }
    assert series["h_seconds_bucket"] == "histogram"
