"""The commands as a user runs them: ``sse-harness demo``, ``sse-harness check`` and ``sse-harness proxy``
as separate processes; plus the pytest plugin as a CI pipeline would call it.

Done-when of issue 4: ``sse-harness check URL --dev-login alice`` against ``sse-harness demo`` exits 0;
through a buffering or gzip proxy it exits non-zero and names buffering or compression.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reference_app.launcher import wait_until
from sse_harness.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CLI = [sys.executable, "-m", "sse_harness.cli"]
ENV = {**os.environ, "COLUMNS": "220", "NO_COLOR": "1"}


class Background:
    """A command running in the background, its output in a file we can poll."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=ENV)

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        def found() -> str | None:
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            match = re.search(pattern, self.log.read_text())
            return match.group(1) if match else None

        return str(wait_until(found, timeout, 0.1, f"{pattern!r} in {self.log.name}"))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sse-harness demo --port 0``: embedded Redis, a Celery worker and the API, as a user starts it."""
    background = Background([*CLI, "demo", "--port", "0"], tmp_path_factory.mktemp("demo") / "demo.log")
    try:
        yield background.wait_for(r"Ready: (http://\S+)")
    finally:
        background.stop()


def proxy(upstream: str, mode: str, tmp_path: Path) -> Background:
    return Background([*CLI, "proxy", "--upstream", upstream, "--port", "0", "--mode", mode],
                      tmp_path / f"proxy-{mode}.log")


def check(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "check", *args], capture_output=True, text=True, timeout=timeout, env=ENV)


def test_check_against_the_demo_exits_0_with_the_heartbeat_verified(demo: str) -> None:
    """Issue 10's done-when: default options, and the heartbeat measured (the demo pings every 15 s)."""
    run = check(demo, "--dev-login", "alice")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[0].startswith("profile contract: "), run.stdout
    assert re.search(r"OK: 2\d passed, \d warnings, 0 failed", run.stdout), run.stdout  # timing may warn on a busy box
    # the demo pings every 15 s; the silence measured after the snapshot is about 15-16 s
    assert re.search(r"PASS\s+│ heartbeat\.interval\s+│\s+1[4-6](\.\d+)? s", run.stdout), run.stdout
    assert "stream.not-buffered" in run.stdout and "Traceback" not in run.stderr


def test_check_through_a_gzip_proxy_exits_1_naming_compression_and_buffering(demo: str, tmp_path: Path) -> None:
    """(The proxy's buffer mode is covered in test_reference_app with the library; same verdicts.)"""
    background = proxy(demo, "gzip", tmp_path)
    try:
        url = background.wait_for(r"Proxy: (http://\S+)")
        run = check(url, "--dev-login", "alice", "--idle-s", "2", "--idle-limit-s", "3", "--expect-cap", "0",
                    "--steps", "5", "--interval-ms", "200")
    finally:
        background.stop()
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAILED" in run.stdout
    for text in ("headers.content-encoding", "the stream is compressed", "stream.not-buffered",
                 "the stream is buffered until it ends (the stream is gzip-compressed"):
        assert text in run.stdout, f"{text!r} not in the report:\n{run.stdout}"


def test_json_and_junit_files(demo: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    run = check(demo, "--dev-login", "alice", "--only", "headers,stream.open", "--format", "json",
                "--output", str(report))
    assert run.returncode == 0, run.stderr
    data = json.loads(report.read_text())
    assert data["ok"] is True and data["http_version"] == "HTTP/1.1"
    assert [r["id"] for r in data["results"]][:2] == ["stream.open", "headers.content-type"]
    assert "OK: 6 passed" in run.stderr  # the summary line still goes to the terminal

    junit = tmp_path / "report.xml"
    run = check(demo, "--dev-login", "alice", "--only", "headers", "--format", "junit", "--output", str(junit))
    assert run.returncode == 0
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "6" and suite.get("failures") == "0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://example.com"], "URL must be http(s)://host[:port]"),
        (["http://127.0.0.1:9", "--dev-login", "a"], "cannot reach http://127.0.0.1:9"),
        (["http://127.0.0.1:9", "--only", "bogus"], "--only 'bogus' matches no check"),
        (["http://127.0.0.1:9", "--trigger", "redis"], "--trigger redis needs --redis-url"),
        (["http://127.0.0.1:9", "--trigger", "none"], "--trigger none needs --session ID"),
        (["http://127.0.0.1:9", "--format", "xml"], "--format must be text, json or junit"),
        (["http://127.0.0.1:9", "--output", "/nonexistent/dir/x.json"],
         "--output /nonexistent/dir/x.json: the directory /nonexistent/dir does not exist"),
        (["http://127.0.0.1:9", "--profile", "websocket"], "--profile must be contract or sse"),
    ],
)
def test_bad_input_is_a_message_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["check", *args], env={"COLUMNS": "220"})
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def test_pytest_plugin_writes_junit_for_ci(demo: str, tmp_path: Path) -> None:
    """An outside pipeline: its own directory and (empty) pytest config, the suite loaded by name."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    junit = tmp_path / "sse.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conformance.pytest_plugin", "--pyargs", "conformance.suite",
         "--sse-url", demo, "--sse-dev-login", "ci-user", "--sse-idle-s", "2", "--sse-only", "headers",
         "--sse-only", "resume", f"--junitxml={junit}", "-q", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**ENV, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})  # only the plugin it names, as a lean CI job
    assert run.returncode == 0, run.stdout + run.stderr
    root = ET.parse(junit).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {f"test_check[{i}]" for i in (
        "headers.content-type", "headers.cache-control", "headers.content-encoding", "headers.content-length",
        "headers.x-accel-buffering", "headers.connection-h2", "resume.header", "resume.query",
        "resume.after-end-204")}
    assert cases["test_check[headers.connection-h2]"].find("skipped") is not None  # HTTP/1.1
    outcome = {p.get("name"): p.get("value") for p in cases["test_check[resume.header]"].iter("property")}
    assert outcome["outcome"] == "pass" and "no gap, no duplicate" in outcome["message"]


def test_a_refused_token_is_one_line_without_a_never_awaited_coroutine(demo: str) -> None:
    run = check(demo, "--token", "garbage")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "RuntimeWarning" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "answered 401" in errors[0], run.stderr


def test_an_html_422_from_transcribe_is_one_line(tmp_path: Path) -> None:
    """A target that refuses the job with an HTML page: one line naming the status, before any verdict."""
    from reference_app.launcher import serve_asgi
    from tests.conformance.contract_app import Flaws, create_app

    with serve_asgi(create_app(Flaws(transcribe_html_422=True))) as url:
        run = check(url, "--dev-login", "alice", "--idle-s", "1", "--idle-limit-s", "2")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "RuntimeWarning" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    expected = "error: POST .../transcribe answered 422: 422 Unprocessable Entity: cannot start"
    assert errors[-1].startswith(expected), errors
    assert len([e for e in errors if e.startswith("error:")]) == 1 and "<" not in errors[-1], errors
