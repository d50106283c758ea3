"""Schema-driven fuzzing of the HTTP API: no input may produce a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from harness.server_process import ServerProcess

OPERATIONS = [("/v1/embeddings", "POST"), ("/readyz", "GET"), ("/livez", "GET")]


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_no_server_errors(minilm_server: ServerProcess, path: str, method: str) -> None:
    schema = schemathesis.openapi.from_url(minilm_server.url("/openapi.json"))
    operation = schema[path][method]

    @given(
        case=operation.as_strategy()
        | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    )
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
        response = case.call(base_url=minilm_server.base_url, timeout=30)
        case.validate_response(response, checks=[not_a_server_error])

    check()
