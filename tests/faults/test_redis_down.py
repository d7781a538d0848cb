"""While Redis is down (not restarting: down, for as long as it takes), every endpoint that needs it answers
503 with ``Retry-After`` — what contract point 11 promises for the stream, and what lets clients and load
balancers retry — never a bare 500, and no error response or log line carries the Redis password or a
traceback. Once Redis is back everything answers normally again without restarting the API.

Regression: every Redis-backed route used to answer ``500 Internal Server Error`` while Redis was down,
including the stream (contract point 11 says 503).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from conftest import bearer
from reference_app.api_client import login, new_session
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import TEST_SECRET, ApiProcess, wait_until

pytestmark = pytest.mark.fault


def requests_for(sid: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", f"/api/v1/sessions/{sid}/status/stream", None),
        ("GET", f"/api/v1/sessions/{sid}/status", None),
        ("GET", f"/api/v1/sessions/{sid}", None),
        ("POST", "/api/v1/sessions", {"title": "during the outage"}),
        ("POST", f"/api/v1/sessions/{sid}/transcribe", {"steps": 1}),
    ]


def test_redis_down_means_503_with_retry_after_and_nothing_leaks(tmp_path: Path, figures: dict[str, Any]) -> None:
    password = "pw-" + secrets.token_hex(12)
    log_path = tmp_path / "api.log"
    with EmbeddedRedis(appendonly=True) as server:
        redis.Redis.from_url(server.url).config_set("requirepass", password)
        url = server.url.replace("redis://", f"redis://:{password}@")
        with ApiProcess(url, log_path=str(log_path)) as api:
            token = login(api.url, "outage")
            sid = new_session(api.url, token)
            server.kill()
            answers = [httpx.request(method, f"{api.url}{path}", json=body, headers=bearer(token), timeout=30)
                       for method, path, body in requests_for(sid)]
            health = httpx.get(f"{api.url}/healthz", timeout=10)
            figures["answers_while_down"] = sorted({r.status_code for r in answers})
            for response in [*answers, health]:
                for secret in (password, TEST_SECRET, "redis://", "Traceback"):
                    assert secret not in response.text, f"{response.request.url.path} leaks {secret[:8]}..."
            assert [r.status_code for r in answers] == [503] * len(answers), [r.text for r in answers]
            assert all(int(r.headers["retry-after"]) > 0 for r in answers)
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            server.restart()  # the AOF keeps the data, not CONFIG SET: protect it again
            redis.Redis.from_url(server.url).config_set("requirepass", password)
            wait_until(lambda: httpx.get(f"{api.url}/healthz", timeout=5).status_code == 200, 20,
                       message="/healthz ok once Redis is back")
            back = httpx.get(f"{api.url}/api/v1/sessions/{sid}/status", headers=bearer(token), timeout=10)
            assert back.status_code == 200
    logged = log_path.read_text()
    assert password not in logged and TEST_SECRET not in logged
