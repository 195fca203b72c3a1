"""Schemathesis against the live app's OpenAPI schema: every operation, with and without keys.

A real uvicorn server (real Redis, a published bundle) takes generated requests, valid and
invalid; every response must be a non-5xx, with a status code the schema documents and a body
that matches the schema. (A 503 would only be right while Redis is down; it is up here.)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

try:
    import schemathesis
except ImportError:  # a missing tool is a failure, not a skip counted as coverage
    pytest.fail("schemathesis==4.32.5 is missing (requirements/pipeline.in)", pytrace=False)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.serving.conftest import ADMIN_KEY, API_KEY, LiveServer  # noqa: E402

pytestmark = pytest.mark.redis

READ_KEY = "read-key-0123456789abcdef"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_MODE = 30


def key_for(path: str, keys: bool) -> dict[str, str]:
    if not keys:
        return {}
    return {"X-API-Key": ADMIN_KEY if path.startswith(("/v1/admin", "/v1/users")) else API_KEY}


@pytest.mark.parametrize("keys", [False, True], ids=["without-keys", "with-keys"])
def test_every_operation_has_no_server_errors_and_matches_its_schema(
    make_settings: Any, published: Any, keys: bool
) -> None:
    from serving.app import create_app

    app = create_app(make_settings(LAMBDAREC_READ_KEY=READ_KEY))
    failures: list[str] = []
    statuses: Counter[tuple[str, int]] = Counter()
    with LiveServer(app) as live:
        schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
        operations = [r.ok() for r in schema.get_all_operations()]
        labels = {op.label for op in operations}
        assert {
            "GET /v1/recommendations/{user_id}",
            "GET /v1/items/{item_id}/similar",
            "POST /v1/events",
            "POST /v1/admin/reload",
            "GET /v1/users/{user_id}/why-not/{item_id}",
            "DELETE /v1/users/{user_id}",
            "GET /healthz",
            "GET /readyz",
        } <= labels
        for op in operations:
            fuzz_operation(op, live.url, keys, failures, statuses)
    print("responses by (operation, status):", dict(sorted(statuses.items())))
    assert not failures, "\n".join(failures[:20])
    assert sum(statuses.values()) >= len(labels) * EXAMPLES_PER_MODE
    assert not [s for (_, s) in statuses if s >= 500]


def fuzz_operation(op: Any, base_url: str, keys: bool, failures: list[str], statuses: Counter) -> None:
    """Positive and negative cases of one operation; failures are collected, not raised."""
    strategy = st.one_of(
        op.as_strategy(generation_mode=GenerationMode.POSITIVE),
        op.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=2 * EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        headers = key_for(op.path, keys)
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        statuses[(op.label, response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except BaseException as e:  # noqa: BLE001 - FailureGroup; collect every failing operation
            failures.append(f"{op.label} -> {response.status_code}: {str(e)[:400]}")

    run()
