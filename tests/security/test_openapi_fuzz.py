"""schemathesis against the real API process: whatever the OpenAPI schema allows (and much that it does not),
the server never answers 5xx and every answer matches the schema it publishes.

The API under test gets its own Redis database: the fuzzer starts jobs with any parameters the schema
allows (hours of simulated work), and nothing consumes that database's Celery queue, so those jobs never
reach the test session's worker. Streams end after ``SSE_CONNECTION_TIMEOUT`` (0.3 s), so a fuzzed request
that opens a real stream (stateful phase: a session it created itself) returns quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from reference_app.api_client import login
from reference_app.launcher import TEST_SECRET, ApiProcess

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 40


def own_database(redis_url: str, db: int = 7) -> str:
    base, _, _current = redis_url.rpartition("/")
    return f"{base}/{db}"


@pytest.fixture(scope="module")
def fuzzed_api(redis_url: str) -> Iterator[ApiProcess]:
    env = {"SSE_CONNECTION_TIMEOUT": "0.3", "SSE_HEARTBEAT_S": "0.1", "SSE_MAX_STREAMS_PER_USER": "1000"}
    with ApiProcess(own_database(redis_url), env=env) as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(fuzzed_api: ApiProcess) -> Any:
    token = login(fuzzed_api.url, "fuzzer")
    config = schemathesis.Config.from_dict({
        "base-url": fuzzed_api.url,
        "headers": {"Authorization": f"Bearer {token}"},
        "request-timeout": 10,
        "generation": {"max-examples": EXAMPLES_PER_OPERATION},
    })
    return schemathesis.openapi.from_url(f"{fuzzed_api.url}/openapi.json", config=config)


#: operations with input (path, query, header or body) — fuzzed with valid and with invalid data
WITH_INPUT = [
    "POST /api/v1/auth/dev-login",
    "POST /api/v1/sessions",
    "GET /api/v1/sessions/{session_id}",
    "POST /api/v1/sessions/{session_id}/transcribe",
    "GET /api/v1/sessions/{session_id}/status",
    "GET /api/v1/sessions/{session_id}/status/stream",
]
#: no input to get wrong: valid requests only (hypothesis cannot build an invalid one)
WITHOUT_INPUT = ["GET /api/v1/streams/me", "GET /healthz", "GET /metrics"]
#: every operation of the schema; ``test_the_schema_documents_every_route`` keeps this list honest
OPERATIONS = WITH_INPUT + WITHOUT_INPUT
CASES = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE) for label in WITH_INPUT]


def breaks_a_cross_field_rule(case: Any) -> bool:
    """JobParams rules that JSON Schema cannot express (``fail_at <= steps``; profile ``fail_at`` needs
    ``fail_at``): a schema-valid body may still be refused, and must then be refused with a 422 naming them."""
    body = case.body if isinstance(case.body, dict) else None
    if case.operation.path != "/api/v1/sessions/{session_id}/transcribe" or body is None:
        return False
    steps = body.get("steps", 20)
    fail_at = body.get("fail_at")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (fail_at, steps))
    cut_past_the_end = numbers and fail_at > steps  # JSON Schema integers include 938.0
    return cut_past_the_end or (body.get("profile") == "fail_at" and fail_at is None)


def validate(case: Any, response: Any, **kwargs: Any) -> None:
    """Every schemathesis check (status code documented, body matches the schema, valid data accepted,
    invalid data rejected, ...), plus: no 5xx, no traceback, never the signing secret."""
    positive = case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
    if positive and breaks_a_cross_field_rule(case):
        assert response.status_code == 422, response.text
        assert "fail_at" in response.text
        case.validate_response(response, excluded_checks=[positive_data_acceptance], **kwargs)
    else:
        case.validate_response(response, **kwargs)
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text and TEST_SECRET not in response.text


# (schemathesis' own pytest integration, ``schemathesis.pytest.from_fixture``, fails on pytest 9:
# it reads the removed ``Function._nodeid``. Its strategies under plain hypothesis do the same work.)
@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_no_server_error_and_every_response_matches_the_schema(api_schema: Any, label: str,
                                                               mode: GenerationMode) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the schema"

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        validate(case, case.call())

    run()


def test_stateful_sequences_never_fail(api_schema: Any) -> None:
    """Chains the operations (create a session, start its job, poll it, stream it) through the links
    schemathesis infers from the responses; every step runs the same checks."""
    machine = api_schema.as_state_machine()

    class Checked(machine):  # type: ignore[misc,valid-type]
        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            validate(case, response, recorder=self.recorder)

    run_state_machine_as_test(Checked, settings=hypothesis.settings(
        max_examples=20, stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck)))


def test_the_schema_documents_every_route(api_schema: Any) -> None:
    """A route missing from the schema would escape the fuzzer: pin what it covers."""
    documented = {f"{method.upper()} {path}" for path, item in api_schema.raw_schema["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    assert documented == set(OPERATIONS)
