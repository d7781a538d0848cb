"""``sse-harness load``: check the request, run Locust headless on the locustfile, then print, gate and report.

Locust runs as a child process (``python -m locust``): it monkey-patches the interpreter with gevent,
which the CLI process must never be. This module therefore imports neither Locust nor gevent.

``LoadRequest`` holds what belongs to the run (target, users, duration, outputs, gates) and the
``LoadOptions`` of the users; each field is one row (``loadtests.options.option``) from which the
``sse-harness load`` options and the Locust command line are made.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from loadtests.options import (
    SCENARIOS,
    LoadOptions,
    UsageError,
    check_output_path,
    check_rows,
    locust_args,
    masked,
    option,
    rows,
)
from loadtests.slo import SLOError, parse_slos
from loadtests.summary import slo_failed
from loadtests.text import print_summary

__all__ = ["LOCUSTFILE", "LoadRequest", "locust_command", "print_summary", "run_load"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_TIMESPAN = re.compile(r"^(?:\d+h)?(?:\d+m)?(?:\d+s)?$|^\d+$")
#: How long the pre-flight check waits for the target's Redis (``--source redis``).
REDIS_CHECK_TIMEOUT_S = 3.0


@dataclass
class LoadRequest:
    host: str = option(help="base URL of the target, e.g. http://127.0.0.1:8000", locust="--host")
    scenario: str = option("steady", "which users run: " + ", ".join(SCENARIOS), choices=tuple(SCENARIOS))
    users: int = option(100, "concurrent users (each holds one stream or poller)", ge=1, locust="--users")
    spawn_rate: float = option(50.0, "users started per second", gt=0, locust="--spawn-rate")
    run_time: str = option("30s", "how long, e.g. 30s, 5m, 1h30m", locust="--run-time")
    processes: int | None = option(None, "Locust worker processes (-1 = one per CPU)", locust="--processes")
    slo: list[str] = option(  # noqa: RUF009  (option() is a dataclasses.field with a command-line row)
        help="gate NAME=VALUE, repeatable: p99_latency_ms=500, error_rate=0.001, gaps=0, streams_peak=500",
        factory=list, metavar="NAME=VALUE")
    json_file: Path | None = option(None, "write the summary JSON here", flag="--json")  # noqa: RUF009
    html_file: Path | None = option(  # noqa: RUF009
        None, "write the HTML report (one offline file) here", flag="--html")
    stop_timeout: str = option("0", "let users finish their current job at the end (time span)",
                               locust="--stop-timeout")
    options: LoadOptions = dataclasses.field(default_factory=LoadOptions)
    #: Extra Locust arguments (tests and advanced use).
    locust_args: list[str] = dataclasses.field(default_factory=list)

    def validate(self) -> None:
        """Every input checked before Locust starts; raises ``UsageError`` with one line."""
        parts = urlsplit(self.host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--host must be an http(s):// URL, got {self.host!r}")
        try:
            parts.port  # noqa: B018  (raises on a port out of range)
        except ValueError:
            raise UsageError(f"--host {self.host!r}: the port must be 1-65535") from None
        check_rows(self)
        if not self.run_time.strip() or not _TIMESPAN.match(self.run_time.strip()):
            raise UsageError(f"--run-time {self.run_time!r} is not a time span like 30s, 5m, 1h30m")
        if not _TIMESPAN.match(self.stop_timeout.strip()):
            raise UsageError(f"--stop-timeout {self.stop_timeout!r} is not a time span like 10s")
        if self.processes is not None and (self.processes == 0 or self.processes < -1):
            raise UsageError("--processes must be >= 1 (or -1 for one per CPU)")
        self.options.validate()
        try:
            parse_slos(self.slo)
        except SLOError as exc:
            raise UsageError(str(exc)) from None
        check_output_path(self.json_file, "--json")
        check_output_path(self.html_file, "--html")
        if self.options.source == "redis":
            _check_redis(self.options.redis_url)


def _check_redis(url: str) -> None:
    """``--source redis`` publishes every job there: an unreachable Redis is bad input, not a run in
    which no job ever moves (which would measure nothing and could pass ``gaps=0``)."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=REDIS_CHECK_TIMEOUT_S,
                                      socket_timeout=REDIS_CHECK_TIMEOUT_S)
    except ValueError as exc:
        raise UsageError(f"--redis-url {masked(url)}: {exc}") from None
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot reach Redis at {masked(url)} (--redis-url): {reason}") from None
    finally:
        client.close()


def locust_command(request: LoadRequest, summary_file: Path) -> list[str]:
    """The ``python -m locust`` command line for ``request``."""
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
    for row in rows(LoadRequest):
        value = getattr(request, row.name)
        if row.locust and value is not None:
            cmd += [row.locust, str(value)]
    if request.processes is not None and not any(a.startswith("--master") for a in request.locust_args):
        # Locust's master binds 5557 by default and its forked workers connect to whatever answers there: a
        # second run on the machine would fail to bind, or its workers would join the other run's master
        # (which then reports their counters as its own). A free port of our own, on loopback only.
        port = str(_free_port())
        cmd += ["--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                "--master-host", "127.0.0.1", "--master-port", port]
    options = dataclasses.replace(request.options, scenario=request.scenario, summary_file=str(summary_file),
                                  slo=",".join(request.slo))
    cmd += locust_args(options)
    cmd += list(request.locust_args)
    cmd += list(SCENARIOS[request.scenario])
    return cmd


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def run_load(request: LoadRequest, console: Console | None = None,
             env: dict[str, str] | None = None, timeout_s: float | None = None,
             out: Console | None = None) -> tuple[int, dict[str, Any] | None]:
    """Run the load; returns (exit code, summary). Raises ``UsageError`` on bad input, before Locust.

    Exit code: 1 when nothing was measured (no stream opened, no status event) or an SLO failed; with SLOs
    that all pass, 0; without SLOs, Locust's own (1 when any request failed)."""
    console = console or Console(stderr=True)
    out = out or console
    request.validate()
    with tempfile.TemporaryDirectory(prefix="sse-load-") as tmp:
        summary_file = Path(tmp) / "summary.json"
        cmd = locust_command(request, summary_file)
        try:
            completed = subprocess.run(cmd, env=env, timeout=timeout_s, check=False)
            code = completed.returncode
        except subprocess.TimeoutExpired:
            console.print(f"[red]error:[/red] locust did not finish within {timeout_s}s", soft_wrap=True)
            return 2, None
        if not summary_file.exists():
            console.print(f"[red]error:[/red] locust exited with {code} and wrote no summary (see its log above)",
                          soft_wrap=True)
            return code or 2, None
        summary: dict[str, Any] = json.loads(summary_file.read_text())
    if request.json_file is not None:
        _write(request.json_file, json.dumps(summary, indent=2) + "\n")
    if request.html_file is not None:
        from loadtests.report import render_load_report

        _write(request.html_file, render_load_report(summary))
    print_summary(summary, out)
    if summary.get("nothing_measured"):
        console.print(f"[red]nothing measured:[/red] {summary['nothing_measured']}", soft_wrap=True,
                      highlight=False)
        return 1, summary
    if request.slo:
        failed = slo_failed(summary)
        if failed:
            console.print(f"[red]SLO failed:[/red] {', '.join(failed)}", soft_wrap=True, highlight=False)
            return 1, summary
        return (0 if code in (0, 1) else code), summary
    return code, summary
