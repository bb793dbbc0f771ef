"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis).

Bounded: a few derandomized examples per operation, so a failure reproduces. Checked: no 5xx,
responses use documented content types and statuses and match the documented schemas.

(schemathesis' `pytest.from_fixture` does not work with pytest 9 yet, so the operations are
walked here, each with its own Hypothesis run.)
"""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures.api import Members

MAX_EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
]


def fuzz_operation(operation: Any, headers: dict[str, str]) -> None:
    """Run one bounded Hypothesis search against one API operation."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_no_server_errors_anywhere(api_app: FastAPI, members: Members) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        fuzz_operation(operation, members.headers("kztv", "admin"))
