"""The transcribe body validates exactly as its published schema says (regression: schemathesis generated
``"fail_at": true`` and the API answered 202, because pydantic's lax mode turned ``true`` into 1)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from reference_app.auth import issue_token
from sse_contract.jobs import JobParams
from tests.asgi.harness import make_app

pytestmark = pytest.mark.asgi

REFUSED = [
    {"fail_at": True, "steps": 5},       # the case schemathesis found
    {"steps": True},
    {"steps": "5"},                      # a string is not an integer in JSON Schema
    {"interval_ms": 1.5},
    {"seed": False},
    {"stall_s": True},                   # nor is a boolean a number
    {"audio_duration_s": "600"},
]
ACCEPTED = [
    ({"steps": 5.0, "fail_at": 2.0, "profile": "fail_at"}, {"steps": 5, "fail_at": 2}),  # JSON Schema: integers
    ({"stall_s": 3, "audio_duration_s": 120}, {"stall_s": 3.0, "audio_duration_s": 120.0}),
]


@pytest.mark.parametrize("body", REFUSED, ids=repr)
def test_the_model_refuses_what_the_schema_refuses(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        JobParams.model_validate(body)


@pytest.mark.parametrize(("body", "expected"), ACCEPTED)
def test_the_model_accepts_what_the_schema_accepts(body: dict[str, Any], expected: dict[str, Any]) -> None:
    params = JobParams.model_validate(body)
    for key, value in expected.items():
        got = getattr(params, key)
        assert got == value and type(got) is type(value)


def test_the_published_schema_says_integer_and_number() -> None:
    properties = JobParams.model_json_schema()["properties"]
    assert properties["steps"]["type"] == "integer"
    assert {"type": "integer", "minimum": 1, "maximum": 5000} in properties["fail_at"]["anyOf"]
    assert properties["stall_s"]["type"] == "number"


@pytest.mark.parametrize("body", REFUSED[:3])
async def test_the_api_answers_422_naming_the_field(body: dict[str, Any]) -> None:
    app, bus, settings = make_app()
    record = await bus.create_session("alice", "t")
    token = issue_token("alice", settings.auth_secret, 600)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
        response = await client.post(f"/api/v1/sessions/{record.id}/transcribe", json=body,
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422, response.text
    assert [e["loc"][-1] for e in response.json()["detail"]] == [next(iter(body))]
