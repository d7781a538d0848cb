"""`sse-harness load` / `bench capacity`: bad input is a one-line error naming the problem (exit 2), before
any Locust or stack is started; and the import graph keeps gevent out of the CLI and the app."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sse_harness.cli import app

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "127.0.0.1:8000"], "--host must be an http(s):// URL"),
        (["--host", "http://x", "--scenario", "storm"], "unknown scenario 'storm'; choose one of: steady, fanout"),
        (["--host", "http://x", "--run-time", "soon"], "--run-time 'soon' is not a time span"),
        (["--host", "http://x", "--slo", "p99=5"], "unknown SLO 'p99'"),
        (["--host", "http://x", "--slo", "gaps=many"], "SLO gaps: 'many' is not a number"),
        (["--host", "http://x", "--source", "redis"], "--source redis needs --redis-url"),
        (["--host", "http://x", "--transport", "curl"], "--transport must be one of raw, fasthttp"),
        (["--host", "http://x", "--users", "0"], "--users must be at least 1"),
    ],
)
def test_load_rejects_bad_input_with_a_clear_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["load", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_bench_capacity_rejects_more_sessions_than_streams() -> None:
    result = CliRunner().invoke(app, ["bench", "capacity", "--streams", "10", "--sessions", "20"])
    assert result.exit_code == 2
    assert "--sessions (20) cannot exceed --streams (10)" in result.output


def test_the_cli_and_the_app_never_import_gevent_or_locust() -> None:
    """Locust monkey-patches with gevent on import: the asyncio app and the CLI process must stay clean."""
    code = (
        "import sys, reference_app.app, sse_harness.cli, loadtests.runner, loadtests.bench, "
        "loadtests.summary, loadtests.slo, loadtests.accounting, loadtests.client;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('gevent', 'locust', 'geventhttpclient'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                               check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
