"""The console script as users run it: demo with jobs, simulate, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import psutil
import pytest

from conftest import bearer
from reference_app.api_client import login
from reference_app.launcher import ApiProcess

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "sse_harness.cli"]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**full_env, **(env or {})}, check=False)


def test_demo_runs_three_jobs_and_exits_zero_leaving_no_children() -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = run("demo", "--port", "0", "--jobs", "3", "--exit-when-done", "--timeout-s", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ready: http://127.0.0.1:" in result.stdout
    assert result.stdout.count(": completed") == 3
    leftovers = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not leftovers
    redis_left = [p for p in psutil.process_iter(["name", "cmdline"])
                  if p.info["name"] == "redis-server" and "sse-harness-redis" in " ".join(p.info["cmdline"] or [])
                  and p.ppid() == os.getpid()]
    assert not redis_left


def test_simulate_publishes_jobs_that_the_owner_can_watch(api: ApiProcess, redis_url: str) -> None:
    result = run("simulate", "--redis-url", redis_url, "--sessions", "3", "--steps", "4", "--interval-ms", "5",
                 "--owner", "sim-user", timeout=60)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"sessions": 3, "completed": 3, "failed": 0, "events": 3 * 6}
    token = login(api.url, "sim-user")
    # the sessions are owned by sim-user: their final status is visible to that user only
    ids_file_run = run("simulate", "--redis-url", redis_url, "--sessions", "1", "--steps", "1",
                       "--interval-ms", "0", "--owner", "sim-user", "--ids-file", "/dev/stdout", timeout=60)
    sid = ids_file_run.stdout.strip().splitlines()[0]
    status = httpx.get(f"{api.url}/api/v1/sessions/{sid}/status", headers=bearer(token))
    assert status.status_code == 200 and status.json()["status"] == "completed"
    other = httpx.get(f"{api.url}/api/v1/sessions/{sid}/status", headers=bearer(login(api.url, "x")))
    assert other.status_code == 404


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--redis-url", "redis://127.0.0.1:1/0", "--profile", "fail_at"], "needs fail_at"),
        (["simulate"], "no Redis"),
        (["demo", "--exit-when-done"], "needs --jobs"),
        (["worker"], "REDIS_URL is not set"),
    ],
)
def test_bad_input_gives_a_clear_message_not_a_traceback(args: list[str], message: str) -> None:
    result = run(*args, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_the_default_secret_without_dev_login() -> None:
    result = run("serve", "--port", "0", env={"REDIS_URL": "redis://127.0.0.1:1/0", "AUTH_DEV_LOGIN": "0"},
                 timeout=30)
    assert result.returncode == 2
    assert "AUTH_SECRET" in result.stderr and "Traceback" not in result.stderr
