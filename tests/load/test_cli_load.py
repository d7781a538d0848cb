"""`sse-harness load` / `bench capacity`: bad input is ONE line naming the problem, exit 2, before any Locust
or stack is started (no traceback, nothing written); the options are declared once; the import graph keeps
gevent out of the CLI and the app.

Issue 11 cases: ``load --profile bogus`` printed 120,627 lines with 3,092 tracebacks; ``--json`` and
``--html`` to a missing directory exited 0 and wrote nothing; a dead ``--redis-url`` ran, measured nothing
and passed ``gaps=0``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.options import LoadOptions, add_arguments, rows
from loadtests.runner import LoadRequest, locust_command

pytestmark = pytest.mark.unit


HOST = ["--host", "http://127.0.0.1:9"]
#: Generous: the CLI starts (imports typer, rich, pydantic) and must refuse without starting Locust.
REFUSE_WITHIN_S = 20.0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("COLUMNS", None)
    return subprocess.run([sys.executable, "-m", "sse_harness.cli", *args], capture_output=True, text=True,
                          timeout=REFUSE_WITHIN_S + 10, check=False, env=env)


LOAD_CASES = [
    (["--host", "ftp://127.0.0.1:9"], "--host must be an http(s):// URL"),
    (["--host", "http://127.0.0.1:99999"], "--host 'http://127.0.0.1:99999': the port must be 1-65535"),
    (["--profile", "bogus"], "--profile must be one of steady, bursty, stall, fail_at, long, realistic"),
    (["--json", "/nonexistent/x.json"], "--json /nonexistent/x.json: directory /nonexistent does not exist"),
    (["--html", "/nonexistent/x.html"], "--html /nonexistent/x.html: directory /nonexistent does not exist"),
    (["--html", "/"], "--html /: is a directory"),
    (["--source", "redis", "--redis-url", "redis://:s3cret@127.0.0.1:1/0"],
     "cannot reach Redis at redis://:***@127.0.0.1:1/0 (--redis-url)"),
    (["--source", "redis", "--redis-url", "http://127.0.0.1:6379"], "--redis-url must be a redis://, rediss://"),
    (["--source", "redis"], "--source redis needs --redis-url"),
    (["--source", "kafka"], "--source must be one of api, redis; got 'kafka'"),
    (["--scenario", "storm"], "--scenario must be one of steady, fanout, connect-storm"),
    (["--transport", "curl"], "--transport must be one of raw, fasthttp; got 'curl'"),
    (["--users", "0"], "--users must be >= 1; got 0"),
    (["--spawn-rate", "0"], "--spawn-rate must be > 0; got 0.0"),
    (["--run-time", "soon"], "--run-time 'soon' is not a time span"),
    (["--stop-timeout", "later"], "--stop-timeout 'later' is not a time span"),
    (["--processes", "0"], "--processes must be >= 1 (or -1 for one per CPU)"),
    (["--steps", "0"], "--steps: Input should be greater than or equal to 1"),
    (["--interval-ms", "-5"], "--interval-ms: Input should be greater than or equal to 0"),
    (["--profile", "fail_at"], "profile 'fail_at' needs fail_at"),
    (["--progress-s", "-1"], "--progress-s must be >= 0; got -1.0"),
    (["--cut-every-s", "0"], "--cut-every-s must be > 0; got 0.0"),
    (["--timeline-s", "0"], "--timeline-s must be > 0; got 0.0"),
    (["--reconnect-delay-ms", "-1"], "--reconnect-delay-ms must be >= 0; got -1"),
    (["--slo", "p99=5"], "unknown SLO 'p99'"),
    (["--slo", "gaps=many"], "SLO gaps: 'many' is not a number"),
]


_RUNS: dict[tuple[str, ...], tuple[list[str], list[str]]] = {}


def _refusals(command: list[str], cases: list[tuple[list[str], str]]) -> tuple[list[str], list[str]]:
    """Run every case (once per session); returns (hard failures, cases whose message is not one line)."""
    key = tuple(command)
    if key not in _RUNS:
        _RUNS[key] = _run_refusals(command, cases)
    return _RUNS[key]


def _run_refusals(command: list[str], cases: list[tuple[list[str], str]]) -> tuple[list[str], list[str]]:
    hard: list[str] = []
    wrapped: list[str] = []
    for args, message in cases:
        started = time.monotonic()
        done = run_cli(*command, *args)
        took = time.monotonic() - started
        text = " ".join(done.stderr.split())
        if not (done.returncode == 2 and text.startswith("error:") and message in text
                and "Traceback" not in done.stderr and not done.stdout.strip() and took < REFUSE_WITHIN_S):
            hard.append(f"{args}: exit {done.returncode}, {took:.1f}s, stderr={done.stderr[-500:]!r}")
        if len([line for line in done.stderr.splitlines() if line.strip()]) != 1:
            wrapped.append(f"{args}: {done.stderr!r}")
    return hard, wrapped


def test_load_bad_inputs_exit_2_with_the_message_before_locust_starts() -> None:
    """Every case through the real command line (a subprocess): exit 2, ``error:`` naming the problem,
    nothing on stdout, no traceback — and quickly, so Locust never started."""
    hard, _ = _refusals(["load", *HOST], LOAD_CASES)
    assert not hard, "\n".join(hard)


def test_load_bad_inputs_are_one_line() -> None:
    _, wrapped = _refusals(["load", *HOST], LOAD_CASES)
    assert not wrapped, "\n".join(wrapped)


def test_a_password_in_the_redis_url_never_appears_in_the_message() -> None:
    done = run_cli("load", *HOST, "--source", "redis", "--redis-url", "redis://:s3cret@127.0.0.1:1/0")
    assert done.returncode == 2
    assert "s3cret" not in done.stderr and "***" in done.stderr


BENCH_CASES = [
    (["--streams", "10", "--sessions", "20"], "--sessions (20) cannot exceed --streams (10)"),
    (["--transport", "curl"], "--transport must be one of raw, fasthttp; got 'curl'"),
    (["--sustain-rate", "0"], "--sustain-rate must be > 0; got 0.0"),
    (["--sustain-s", "-1"], "--sustain-s must be >= 0; got -1.0"),
    (["--json", "/nonexistent/b.json"], "--json /nonexistent/b.json: directory /nonexistent does not exist"),
    (["--html", "/nonexistent/b.html"], "--html /nonexistent/b.html: directory /nonexistent does not exist"),
    (["--slo", "gaps=0"], "unknown SLO 'gaps'"),
    (["--streams", "0"], "--streams must be >= 1; got 0"),
]


def test_bench_capacity_bad_inputs_exit_2_with_the_message_before_the_stack_starts() -> None:
    hard, _ = _refusals(["bench", "capacity"], BENCH_CASES)
    assert not hard, "\n".join(hard)


def test_bench_capacity_bad_inputs_are_one_line() -> None:
    _, wrapped = _refusals(["bench", "capacity"], BENCH_CASES)
    assert not wrapped, "\n".join(wrapped)


def test_each_load_option_is_one_row_for_the_cli_locust_and_the_dataclass() -> None:
    """Issue 12: an option was declared in five places. Now the rows make Locust's parser and the command
    line; a value given on ``sse-harness load`` arrives in Locust as the same field of ``LoadOptions``."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    wanted = LoadOptions(source="redis", redis_url="redis://x:1/0", steps=7, cut_every_s=2.5, progress_s=1.0)
    cmd = locust_command(LoadRequest(host="http://h:1", users=3, options=wanted, slo=["gaps=0"]), Path("s.json"))
    sse_args: list[str] = []
    for i, arg in enumerate(cmd):
        if arg.startswith("--sse-"):
            sse_args += [arg, cmd[i + 1]]
    parsed = LoadOptions.from_namespace(parser.parse_args(sse_args))
    assert parsed == LoadOptions(source="redis", redis_url="redis://x:1/0", steps=7, cut_every_s=2.5,
                                 progress_s=1.0, slo="gaps=0", summary_file="s.json", scenario="steady")
    assert cmd[cmd.index("--users") + 1] == "3" and cmd[cmd.index("--host") + 1] == "http://h:1"
    assert "--html" not in cmd  # the report is ours (SSE figures included), not Locust's
    # Nothing on the command line is declared twice (``scenario``, ``slo`` and ``summary_file`` of LoadOptions
    # are what the runner hands to Locust, not options of their own).
    user_rows = {row.name for row in rows(LoadOptions) if row.cli}
    assert not user_rows & {row.name for row in rows(LoadRequest)}
    from sse_harness.load import load

    cli_names = set(inspect.signature(load).parameters)
    assert {row.name for row in rows(LoadOptions) if row.cli} <= cli_names
    assert {row.name for row in rows(LoadRequest)} <= cli_names


def test_the_transcribe_body_carries_only_what_was_set() -> None:
    """The harness sent every JobParams field (``speed`` too) to POST .../transcribe; the contract lists
    what a client may send, and a default is not a request."""
    from sse_contract.jobs import JobParams

    body = LoadOptions(steps=3).job(JobParams(profile="steady", steps=10, interval_ms=200)).model_dump(
        exclude_unset=True)
    assert body == {"profile": "steady", "steps": 3, "interval_ms": 200}


def test_the_cli_and_the_app_never_import_gevent_or_locust() -> None:
    """Locust monkey-patches with gevent on import: the asyncio app and the CLI process must stay clean."""
    code = (
        "import sys, reference_app.app, sse_harness.cli, loadtests.runner, loadtests.bench, loadtests.report, "
        "loadtests.summary, loadtests.slo, loadtests.accounting, loadtests.client;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('gevent', 'locust', 'geventhttpclient'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                               check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_a_distributed_run_uses_a_master_port_of_its_own_on_loopback() -> None:
    """With Locust's default 5557 a second run on the machine failed to bind, or its forked workers joined
    the other run's master, which then counted them (seen here: a run summarised another's zeros)."""
    cmd = locust_command(LoadRequest(host="http://h:1", processes=2), Path("s.json"))
    port = cmd[cmd.index("--master-bind-port") + 1]
    assert port == cmd[cmd.index("--master-port") + 1] != "5557"
    assert cmd[cmd.index("--master-bind-host") + 1] == cmd[cmd.index("--master-host") + 1] == "127.0.0.1"
    assert "--master-bind-port" not in locust_command(LoadRequest(host="http://h:1"), Path("s.json"))
