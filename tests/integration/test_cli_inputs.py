"""Every bad input and every failed start of the real command line (issue 11): one ``error:`` line on
stderr, a non-zero exit, no traceback, nothing started, nothing left running — and the cases that used to
pass falsely (a demo that reported the jobs of another server as its own) now fail."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse

from reference_app.embedded_redis import EmbeddedRedis, free_port
from reference_app.launcher import serve_asgi, wait_until

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "sse_harness.cli"]
SECRET = "s" * 40
#: a Redis URL with a password where nothing listens: must be named in messages, password masked
DOWN = "redis://:hunter2@127.0.0.1:1/0"


def env_of(extra: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("REDIS_URL", "NO_COLOR", "FORCE_COLOR") and not k.startswith(("SSE_", "AUTH_"))}
    return {**base, **(extra or {})}


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env_of(env),
                          check=False)


def assert_one_error_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


OUT_OF_RANGE = "99999 is out of range (1-65535, or 0 for any free port)"
SERVE_ENV = {"AUTH_DEV_LOGIN": "1", "AUTH_SECRET": SECRET, "REDIS_URL": "redis://127.0.0.1:1/0"}

#: (args, environment, exit code, what the line must say). 2 = bad input, 1 = a start that failed.
CASES: list[tuple[list[str], dict[str, str], int, list[str]]] = [
    (["serve", "--port", "99999"], SERVE_ENV, 2, ["--port", OUT_OF_RANGE]),
    (["demo", "--port", "99999"], {}, 2, ["--port", OUT_OF_RANGE]),
    (["proxy", "--upstream", "http://127.0.0.1:1", "--port", "99999"], {}, 2, ["--port", OUT_OF_RANGE]),
    (["proxy", "--upstream", "ftp://127.0.0.1:1"], {}, 2, ["ftp"]),
    (["serve", "--port", "-1"], SERVE_ENV, 2, ["--port"]),
    (["serve", "--log-level", "bogus"], SERVE_ENV, 2, ["--log-level", "'bogus'", "info"]),
    (["worker", "--pool", "bogus"], {"REDIS_URL": "redis://127.0.0.1:1/0"}, 2, ["--pool", "threads"]),
    (["worker", "--concurrency", "0"], {"REDIS_URL": "redis://127.0.0.1:1/0"}, 2, ["--concurrency"]),
    (["simulate", "--redis-url", "redis://127.0.0.1:1/0", "--profile", "bogus"], {}, 2, ["--profile"]),
    (["simulate", "--redis-url", "redis://127.0.0.1:1/0", "--steps", "0"], {}, 2, ["--steps"]),
    (["simulate", "--redis-url", "redis://127.0.0.1:1/0", "--profile", "fail_at"], {}, 2, ["needs fail_at"]),
    (["simulate", "--redis-url", "redis://127.0.0.1:1/0", "--fail-at", "30"], {}, 2, ["fail_at (30)", "steps (20)"]),
    (["simulate", "--redis-url", "http://127.0.0.1:6379/0"], {}, 2, ["--redis-url", "redis://"]),
    (["simulate", "--redis-url", "redis://:hunter2@127.0.0.1:99999/0"], {}, 2, ["--redis-url", "***"]),
    (["simulate", "--redis-url", "redis://127.0.0.1:1/0", "--ids-file", "/nonexistent/dir/ids"], {}, 2,
     ["--ids-file", "/nonexistent/dir/ids"]),
    (["simulate"], {}, 2, ["no Redis"]),
    (["worker"], {}, 2, ["REDIS_URL is not set"]),
    (["worker"], {"REDIS_URL": "http://127.0.0.1:6379/0"}, 2, ["REDIS_URL", "redis://"]),
    (["serve"], {**SERVE_ENV, "SSE_HEARTBEAT_S": "abc"}, 2, ["SSE_HEARTBEAT_S=abc", "valid number"]),
    (["demo", "--port", "0"], {"SSE_HEARTBEAT_S": "abc"}, 2, ["SSE_HEARTBEAT_S=abc"]),
    (["worker"], {"REDIS_URL": "redis://127.0.0.1:1/0", "SSE_MAX_STREAMS_PER_USER": "0"}, 2,
     ["SSE_MAX_STREAMS_PER_USER"]),
    (["demo", "--port", "0"], {"AUTH_SECRET": "short"}, 2, ["AUTH_SECRET", "32"]),
    (["demo", "--exit-when-done"], {}, 2, ["needs --jobs"]),
    (["demo", "--bogus"], {}, 2, ["--bogus"]),
    (["no-such-command"], {}, 2, ["no-such-command"]),
    # Redis unreachable: named with the password masked, given up after a bounded time (10 s)
    (["simulate", "--redis-url", DOWN], {}, 1, ["redis://:***@127.0.0.1:1/0", "unreachable"]),
    (["worker"], {"REDIS_URL": DOWN}, 1, ["redis://:***@127.0.0.1:1/0", "unreachable"]),
    (["demo", "--port", "0"], {"REDIS_URL": DOWN}, 1, ["redis://:***@127.0.0.1:1/0", "unreachable"]),
]


@pytest.mark.parametrize(("args", "env", "code", "needles"), CASES,
                         ids=[" ".join(a) + (f" [{','.join(e)}]" if e else "") for a, e, _, _ in CASES])
def test_bad_input_is_one_line_and_a_non_zero_exit(args: list[str], env: dict[str, str], code: int,
                                                   needles: list[str]) -> None:
    started = time.monotonic()
    result = run(*args, env=env)
    line = assert_one_error_line(result, code, *needles)
    assert "hunter2" not in result.stderr + result.stdout
    assert "Ready:" not in result.stdout
    assert time.monotonic() - started < 30, line


@pytest.fixture
def other_server() -> Iterator[int]:
    """Another HTTP server on a port, answering 200 to everything (``/healthz`` included)."""
    app = Starlette()
    app.add_route("/{path:path}", lambda request: PlainTextResponse("not the demo"), methods=["GET", "POST"])
    with serve_asgi(app) as url:
        yield int(url.rsplit(":", 1)[1])


def test_demo_on_a_port_another_server_holds_refuses_to_start(other_server: int) -> None:
    """Used to print Ready, run the jobs against the other server and exit 0."""
    result = run("demo", "--port", str(other_server), "--jobs", "3", "--exit-when-done", timeout=60)
    assert_one_error_line(result, 1, f"127.0.0.1:{other_server}", "already in use")
    assert "Ready:" not in result.stdout and "completed" not in result.stdout


def test_serve_on_a_port_in_use_refuses_to_start(other_server: int) -> None:
    result = run("serve", "--port", str(other_server), env=SERVE_ENV)
    assert_one_error_line(result, 1, f"127.0.0.1:{other_server}", "already in use")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("how", ["api-killed", "sigterm"])
def test_a_demo_that_fails_or_is_stopped_during_start_up_leaves_no_process(how: str) -> None:
    """The embedded redis-server, the worker and the API all go, whatever ends the start-up."""
    demo = subprocess.Popen([*CLI, "demo", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env_of())
    try:
        def api_child() -> psutil.Process | None:
            for child in _descendants(demo.pid):
                with_fd = "--fd" in " ".join(child.cmdline())
                if with_fd and _alive(child):
                    return child
            return None

        api = wait_until(api_child, 30, 0.01, "the demo's API child")
        children = _descendants(demo.pid)
        assert any("redis-server" in " ".join(c.cmdline()) for c in children)
        if how == "api-killed":
            api.send_signal(signal.SIGKILL)
        else:
            demo.send_signal(signal.SIGTERM)
        _, stderr = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 1, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    expected = "the API process exited with -9" if how == "api-killed" else "before the stack was ready"
    assert len(lines) == 1 and expected in lines[0], stderr
    assert "Traceback" not in stderr
    wait_until(lambda: not [c for c in children if _alive(c)], 10, 0.05, "every child of the demo to exit")


def test_serve_with_redis_down_binds_answers_503_names_the_url_and_recovers() -> None:
    """Contract point 11: the API starts without Redis, says so once (password masked), and recovers."""
    redis_port, api_port = free_port(), free_port()
    password = "hunter2-" + os.urandom(4).hex()
    url = f"redis://:{password}@127.0.0.1:{redis_port}/0"
    serve = subprocess.Popen([*CLI, "serve", "--port", str(api_port)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             env=env_of({**SERVE_ENV, "REDIS_URL": url}))
    base = f"http://127.0.0.1:{api_port}"
    try:
        def status(path: str, method: str = "GET", **kw: Any) -> int | None:
            try:
                return httpx.request(method, base + path, timeout=2, **kw).status_code
            except httpx.HTTPError:
                return None

        started = time.monotonic()
        assert wait_until(lambda: status("/healthz"), 10, 0.05, "/healthz to answer") == 503
        assert time.monotonic() - started < 5  # binds at once, not after the subscriber's connect timeout
        token = httpx.post(base + "/api/v1/auth/dev-login", json={"username": "u"}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert status("/api/v1/sessions", "POST", json={"title": "t"}, headers=auth) == 503
        with EmbeddedRedis(port=redis_port, password=password):
            wait_until(lambda: status("/healthz") == 200, 30, 0.1, "/healthz to recover once Redis is up")
            assert status("/api/v1/sessions", "POST", json={"title": "t"}, headers=auth) == 201
            serve.send_signal(signal.SIGTERM)
            output, _ = serve.communicate(timeout=30)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate()
    assert f"Redis at redis://:***@127.0.0.1:{redis_port}/0 is unreachable" in output
    assert password not in output and "Traceback" not in output


def test_version_and_help_for_every_option() -> None:
    version = run("--version")
    assert version.returncode == 0 and re.fullmatch(r"sse-harness \d+\.\d+\.\S+\n", version.stdout)
    from sse_harness.cli import build, commands

    missing = [f"{name} {param.opts[0]}" for name, command in commands(build()).items()
               for param in command.params
               if getattr(param, "param_type_name", "") == "option" and not param.hidden and not param.help]
    assert not missing, f"options without help: {missing}"
    for name in commands(build()):
        words = name.split()[1:]
        help_text = run(*words, "--help").stdout
        assert "Usage: sse-harness" in help_text, name
        assert "<bool>" not in help_text and "{" not in help_text and "<str>" not in help_text, help_text


def test_no_wrapping_off_a_terminal_and_no_color_honoured() -> None:
    long_line = run("serve", "--log-level", "bogus", env=SERVE_ENV)
    line = assert_one_error_line(long_line, 2)
    assert len(line) > 100  # one long line, not wrapped at 80 columns
    forced = run("serve", "--log-level", "bogus", env={**SERVE_ENV, "FORCE_COLOR": "1"})
    assert "\x1b[" in forced.stderr  # colour when asked for
    plain = run("serve", "--log-level", "bogus", env={**SERVE_ENV, "FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in plain.stderr and plain.stderr.startswith("error: ")


def test_a_port_out_of_range_is_refused_by_the_launcher_too() -> None:
    from reference_app.launcher import StartupError, listening_socket

    with pytest.raises(StartupError, match="out of range"):
        listening_socket("127.0.0.1", 99999)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(StartupError, match="already in use"):
            listening_socket("127.0.0.1", taken.getsockname()[1])
