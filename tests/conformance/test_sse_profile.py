"""The ``sse`` profile against servers that know nothing of this project: an sse-starlette
``EventSourceResponse`` ticker and a plain Node server pass; the same ticker through nginx with
``proxy_buffering on`` and gzip fails naming compression; a stream that goes silent fails naming the
heartbeat; credentials come from --header/--cookie; --trigger-cmd makes events happen; a run that
checked nothing exits 2.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conformance import CheckOptions, Outcome, Report, SetupError, run_sync
from reference_app.launcher import serve_asgi, wait_until
from sse_harness.cli import app as cli
from tests.conformance.nginx_server import CONF, NGINX, nginx, replace_once
from tests.conformance.sse_servers import create_app

__all__ = ["nginx"]  # the fixture

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

HERE = Path(__file__).resolve().parent
#: short windows: the ticker sends a byte every 0.3 s, so 3 s without one means no heartbeat
FAST: dict[str, Any] = {"idle_s": 2.0, "idle_limit_s": 3.0}
ENV = {**os.environ, "COLUMNS": "220", "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_asgi(create_app()) as url:
        yield url


def check(url: str, **options: Any) -> Report:
    return run_sync(CheckOptions(url, **{**FAST, **options}))


def failed(report: Report) -> dict[str, str]:
    return {r.id: r.message for r in report.results if r.outcome is Outcome.FAIL}


def test_an_sse_starlette_stream_passes_with_default_options(server: str) -> None:
    """The done-when command as a user types it: default options, the profile chosen from the path."""
    run = subprocess.run([sys.executable, "-m", "sse_harness.cli", "check", f"{server}/some/stream",
                          "--profile", "sse"], capture_output=True, text=True, timeout=60, env=ENV)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[0].startswith("profile sse: any SSE stream"), run.stdout
    assert re.search(r"PASS\s+│ heartbeat\.interval", run.stdout), run.stdout
    assert re.search(r"PASS\s+│ stream\.not-buffered", run.stdout), run.stdout
    assert "Traceback" not in run.stderr


def test_the_profile_follows_the_url(server: str) -> None:
    report = check(f"{server}/some/stream", only=["stream.open"])
    assert report.profile == "sse" and report.exit_code == 0
    assert CheckOptions(server).resolved_profile() == "contract"


def test_a_node_sse_server_passes(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    log = tmp_path / "node.log"
    with log.open("wb") as out:
        process = subprocess.Popen([node, str(HERE / "workers" / "sse_server.mjs")], stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        def listening() -> str | None:
            match = re.search(r"Listening: (http://\S+)", log.read_text())
            return match.group(1) if match else None

        base = str(wait_until(listening, 15, 0.05, "the Node server to listen"))
        report = check(f"{base}/v1/jobs/42/progress")
    finally:
        process.terminate()
        process.wait(10)
    assert report.exit_code == 0, report.summary()
    outcomes = {r.id: r.outcome.value for r in report.results}
    for check_id in ("stream.retry", "stream.ids", "heartbeat.interval", "stream.not-buffered",
                     "resume.last-event-id"):
        assert outcomes[check_id] == "pass", (check_id, report.get(check_id))


def test_a_silent_stream_fails_naming_the_heartbeat(server: str) -> None:
    report = check(f"{server}/silent")
    assert report.exit_code == 1
    assert set(failed(report)) == {"heartbeat.interval"}, report.summary()
    assert failed(report)["heartbeat.interval"].startswith("no heartbeat: 3.")


def test_expect_heartbeat_fails_a_slower_one_early(server: str) -> None:
    report = check(f"{server}/silent", idle_s=0.5, idle_limit_s=100, expect_heartbeat_s=1.0, only=["heartbeat"])
    assert "slower than --expect-heartbeat-s 1" in failed(report)["heartbeat.interval"]
    assert report.duration_s < 5  # not the 100 s limit


@pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed")
def test_through_nginx_with_buffering_and_gzip_it_fails_naming_compression(
    server: str, nginx: Callable[..., str]
) -> None:
    text = replace_once(CONF.read_text(), "proxy_buffering off;", "proxy_buffering on;")
    text = replace_once(text, "            gzip off;\n", "")
    text = replace_once(text, "gzip_types application/json", "gzip_types text/event-stream application/json")
    proxied = nginx(text, server)
    run = subprocess.run([sys.executable, "-m", "sse_harness.cli", "check", f"{proxied}/some/stream",
                          "--idle-s", "2", "--idle-limit-s", "3"], capture_output=True, text=True,
                         timeout=60, env=ENV)
    assert run.returncode == 1, run.stdout + run.stderr
    assert re.search(r"FAIL\s+│ headers\.content-encoding\s+│.*the stream is compressed", run.stdout), run.stdout


def test_headers_and_cookies_reach_the_stream(server: str) -> None:
    good = check(f"{server}/private/stream", header=["X-Api-Key: k"], cookie=["sid=abc"], only=["stream.open"])
    assert good.exit_code == 0, good.summary()
    bad = check(f"{server}/private/stream", header=["X-Api-Key: k"], only=["stream.open"])
    assert "answered 401" in failed(bad)["stream.open"]


def test_a_trigger_command_makes_events_happen(server: str) -> None:
    command = f"{shlex.quote(sys.executable)} -c \"import httpx; httpx.post('{server}/trigger')\""
    report = check(f"{server}/on-demand", trigger_cmd=command, idle_s=3.0)
    assert report.exit_code == 0, report.summary()
    assert report.get("stream.not-buffered").outcome is Outcome.PASS  # type: ignore[union-attr]
    assert report.get("stream.ids").message.startswith("6 events")  # type: ignore[union-attr]


def test_a_trigger_command_that_fails_is_no_pass(server: str) -> None:
    """A trigger that exits non-zero made none of the events asked for: the run must not pass (exit 2)."""
    command = f"{shlex.quote(sys.executable)} -c \"raise SystemExit(3)\""
    with pytest.raises(SetupError, match="exited 3"):
        check(f"{server}/on-demand", trigger_cmd=command, idle_s=1.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nope", "--only", "headers"], "nothing checked: all 6 selected checks were skipped"),
        (["/some/stream", "--header", "no-colon"], "--header must look like 'Name: value'"),
        (["/some/stream", "--dev-login", "a"], "--dev-login belongs to --profile contract"),
        (["/some/stream", "--profile", "contract"], "takes the API base URL without a path"),
        (["/some/stream", "--output", "/nonexistent/dir/x.json"], "the directory /nonexistent/dir does not exist"),
    ],
)
def test_usage_errors_and_nothing_checked_exit_2(server: str, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["check", server + args[0], *args[1:]], env={"COLUMNS": "220"})
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert len([line for line in result.stderr.splitlines() if "error:" in line]) == 1, result.stderr


def test_compare_works_in_the_sse_profile(server: str, tmp_path: Path) -> None:
    """Two URLs of the same stream (in real use: the Cloudflare hostname and the origin), side by side."""
    import json

    out = tmp_path / "compare.json"
    result = CliRunner().invoke(cli, ["check", f"{server}/some/stream", "--compare", f"{server}/some/stream",
                                      "--idle-s", "1", "--idle-limit-s", "3", "--format", "json", "--output",
                                      str(out)], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["profile"] == "sse" and [t["profile"] for t in data["targets"]] == ["sse", "sse"]
    assert any(d["id"] == "timing.headers" and d["unit"] == "ms" for d in data["differences"])
