"""Safe by default: the real ``sse-harness serve`` refuses to start with a guessable secret, dev login is off
unless asked for, and neither an error response nor an SSE message ever carries a secret or a traceback —
not even when the job itself crashes inside the worker."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable

import httpx
import jwt
import pytest

from conftest import bearer
from reference_app.api_client import collect_stream, login, new_session
from reference_app.launcher import TEST_SECRET, ApiProcess
from reference_app.processes import api_args
from reference_app.settings import DEFAULT_SECRET, Settings
from reference_app.worker.celery_app import make_celery

pytestmark = pytest.mark.integration

LEAKS = ("Traceback", 'File "', "ValidationError", "Exception", TEST_SECRET, DEFAULT_SECRET)


def serve_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``sse-harness serve`` with exactly these AUTH_* settings (nothing inherited from this process)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    return subprocess.run(api_args("127.0.0.1", 0), env={**base, "REDIS_URL": "redis://127.0.0.1:1/0", **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("env", "message"), [
    ({}, "AUTH_SECRET is the built-in development secret"),  # nothing set at all: the default
    ({"AUTH_SECRET": "s" * 31}, "at least 32 characters"),
    ({"AUTH_DEV_LOGIN": "1", "AUTH_SECRET": "short"}, "at least 32 characters"),
])
def test_serve_refuses_a_guessable_secret(env: dict[str, str], message: str) -> None:
    result = serve_with(env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_dev_login_is_off_unless_enabled(monkeypatch: pytest.MonkeyPatch,
                                         start_api: Callable[..., ApiProcess]) -> None:
    monkeypatch.delenv("AUTH_DEV_LOGIN", raising=False)
    assert Settings().auth_dev_login is False  # the default, with nothing in the environment
    secret = "production-like-" + "k" * 40
    api = start_api(AUTH_DEV_LOGIN="0", AUTH_SECRET=secret)
    refused = httpx.post(f"{api.url}/api/v1/auth/dev-login", json={"username": "alice"}, timeout=10)
    assert refused.status_code == 404 and "access_token" not in refused.text
    assert "set-cookie" not in refused.headers

    def token(key: str) -> str:
        return jwt.encode({"sub": "alice", "exp": int(time.time()) + 600}, key, algorithm="HS256")

    # the public development secret mints nothing here; the configured one does
    assert httpx.get(f"{api.url}/api/v1/streams/me", headers=bearer(token(DEFAULT_SECRET)), timeout=10).status_code \
        == 401
    assert httpx.get(f"{api.url}/api/v1/streams/me", headers=bearer(token(secret)), timeout=10).status_code == 200


def test_a_job_that_crashes_in_the_worker_ends_failed_with_a_plain_message(
    api: ApiProcess, redis_url: str, token_for: Callable[[str], str]
) -> None:
    """A task whose parameters blow up inside the worker (sent straight to the broker, past the API's
    validation): the stream ends ``failed`` with a short message; the exception stays in the worker log."""
    token = token_for("alice")
    sid = new_session(api.url, token)
    make_celery(redis_url).send_task("transcribe_audio", task_id=f"crash-{sid}",
                                     kwargs={"session_id": sid, "params": {"profile": "no-such-profile"}})
    result = collect_stream(f"{api.url}/api/v1/sessions/{sid}/status/stream", token=token, timeout=30,
                            until=lambda r: any(json.loads(e.data)["status"] == "failed" for e in r.status_events))
    final = json.loads(result.status_events[-1].data)
    assert final["status"] == "failed"
    assert final["message"] == "Transcription failed: internal error (see worker log)"
    wire = b"".join(e.data.encode() for e in result.events)
    for leak in LEAKS:
        assert leak.encode() not in wire


def test_no_route_leaks_the_secret_or_echoes_a_token(api: ApiProcess, token_for: Callable[[str], str]) -> None:
    """Every public document the API serves (schema, metrics, health, pages) holds no secret; a token pasted
    where an id belongs is refused (422) without being echoed back."""
    token = token_for("alice")
    misplaced = login(api.url, "bob")
    for path in ("/openapi.json", "/metrics", "/healthz", "/docs", "/", f"/api/v1/sessions/{misplaced}",
                 f"/api/v1/sessions/{misplaced}/status/stream"):
        response = httpx.get(f"{api.url}{path}", headers=bearer(token), timeout=10)
        assert response.status_code < 500, path
        assert TEST_SECRET not in response.text and "Traceback" not in response.text, path
        assert misplaced not in response.text, path
