"""``sse-harness load``: run Locust headless on the locustfile, then print and gate the summary.

Locust runs as a child process (``python -m locust``): it monkey-patches the interpreter with gevent,
which the CLI process must never be. This module therefore imports neither Locust nor gevent.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from loadtests.options import SCENARIOS, SOURCES, TRANSPORTS
from loadtests.slo import SLOError, parse_slos
from loadtests.summary import slo_failed

__all__ = ["LOCUSTFILE", "LoadRequest", "LoadUsageError", "locust_command", "print_summary", "run_load"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
_TIMESPAN = re.compile(r"^(?:\d+h)?(?:\d+m)?(?:\d+s)?$|^\d+$")


class LoadUsageError(ValueError):
    """Bad command-line input, reported as a one-line message (never a traceback)."""


@dataclass
class LoadRequest:
    host: str
    scenario: str
    users: int
    spawn_rate: float
    run_time: str
    processes: int | None = None
    slos: list[str] = field(default_factory=list)
    json_file: Path | None = None
    html_file: Path | None = None
    source: str = "api"
    redis_url: str = ""
    transport: str = "raw"
    profile: str | None = None
    steps: int | None = None
    interval_ms: int | None = None
    jobs_per_user: int = 0
    cut_every_s: float | None = None
    reconnect_delay_ms: int | None = None
    poll_interval_ms: int | None = None
    stop_timeout: str = "0"
    locust_args: list[str] = field(default_factory=list)

    def validate(self) -> None:
        parts = urlsplit(self.host)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LoadUsageError(f"--host must be an http(s):// URL, got {self.host!r}")
        if self.scenario not in SCENARIOS:
            raise LoadUsageError(f"unknown scenario {self.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
        if self.users < 1:
            raise LoadUsageError("--users must be at least 1")
        if self.spawn_rate <= 0:
            raise LoadUsageError("--spawn-rate must be > 0")
        if not _TIMESPAN.match(self.run_time.strip()) or not self.run_time.strip():
            raise LoadUsageError(f"--run-time {self.run_time!r} is not a time span like 30s, 5m, 1h30m")
        if not _TIMESPAN.match(self.stop_timeout.strip()):
            raise LoadUsageError(f"--stop-timeout {self.stop_timeout!r} is not a time span like 10s")
        if self.processes is not None and (self.processes == 0 or self.processes < -1):
            raise LoadUsageError("--processes must be >= 1 (or -1 for one per CPU)")
        if self.source not in SOURCES:
            raise LoadUsageError(f"--source must be one of {', '.join(SOURCES)}")
        if self.source == "redis" and not self.redis_url:
            raise LoadUsageError("--source redis needs --redis-url (the target's Redis)")
        if self.transport not in TRANSPORTS:
            raise LoadUsageError(f"--transport must be one of {', '.join(TRANSPORTS)}")
        try:
            parse_slos(self.slos)
        except SLOError as exc:
            raise LoadUsageError(str(exc)) from None


def locust_command(request: LoadRequest, summary_file: Path) -> list[str]:
    """The ``python -m locust`` command line for ``request``."""
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", request.host, "--users", str(request.users), "--spawn-rate", str(request.spawn_rate),
        "--run-time", request.run_time, "--stop-timeout", request.stop_timeout, "--only-summary",
        "--sse-scenario", request.scenario, "--sse-summary-file", str(summary_file),
        "--sse-source", request.source, "--sse-transport", request.transport,
        "--sse-jobs-per-user", str(request.jobs_per_user),
    ]
    optional: dict[str, Any] = {
        "--processes": request.processes, "--html": request.html_file,
        "--sse-redis-url": request.redis_url or None, "--sse-profile": request.profile,
        "--sse-steps": request.steps, "--sse-interval-ms": request.interval_ms,
        "--sse-cut-every-s": request.cut_every_s, "--sse-reconnect-delay-ms": request.reconnect_delay_ms,
        "--sse-poll-interval-ms": request.poll_interval_ms,
    }
    for flag, value in optional.items():
        if value is not None:
            cmd += [flag, str(value)]
    if request.slos:
        cmd += ["--sse-slo", ",".join(request.slos)]
    cmd += list(request.locust_args)
    cmd += list(SCENARIOS[request.scenario])
    return cmd


def _ms(block: dict[str, Any], key: str) -> str:
    value = (block or {}).get(key)
    return "-" if value is None else f"{value:,.0f}"


def print_summary(summary: dict[str, Any], console: Console) -> None:
    table = Table(title=f"SSE load: {summary.get('scenario')} against {summary.get('host')}",
                  show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    lat, con = summary.get("latency_ms") or {}, summary.get("connect_ms") or {}
    watches = summary.get("watches") or {}
    rows: list[tuple[str, str]] = [
        ("duration", f"{summary.get('duration_s')} s ({summary.get('workers')} process(es))"),
        ("streams peak / opened", f"{summary.get('streams_peak'):,} / {summary.get('streams_opened'):,}"),
        ("status events received", f"{summary.get('events_received'):,}"),
        ("event latency p50 / p95 / p99 / max ms",
         " / ".join(_ms(lat, k) for k in ("p50", "p95", "p99", "max"))),
        ("connect p50 / p95 / p99 ms", " / ".join(_ms(con, k) for k in ("p50", "p95", "p99"))),
        ("gaps / duplicates / out of order",
         f"{summary.get('gaps')} / {summary.get('duplicates')} / {summary.get('out_of_order')}"),
        ("reconnects / resets", f"{summary.get('reconnects')} / {summary.get('resets')}"),
        ("jobs followed to the end / open at stop",
         f"{watches.get('terminal')} / {watches.get('open_at_stop')}"),
        ("errors (rate)", f"{summary.get('errors')} ({summary.get('error_rate')})"),
    ]
    polling = summary.get("polling") or {}
    if polling.get("polls"):
        rows.append(("polls (304 not modified)", f"{polling['polls']:,} ({polling['not_modified']:,})"))
        change = polling.get("change_ms") or {}
        rows.append(("polling: change noticed p50 / p95 / p99 ms",
                     " / ".join(_ms(change, k) for k in ("p50", "p95", "p99"))))
    server = summary.get("server") or {}
    if server.get("cpu_s") is not None:
        rows.append(("server CPU (API process)", f"{server['cpu_s']} s"))
    generator = summary.get("generator") or {}
    if generator:
        rows.append(("load generator: peak RSS / CPU",
                     f"{generator['rss_peak_mb']} MB / {generator['cpu_s']} s ({generator['processes']} proc.)"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if summary.get("errors_by_type"):
        console.print("errors by type: " + ", ".join(f"{k}={v}" for k, v in summary["errors_by_type"].items()))
    slo = summary.get("slo") or {}
    if slo:
        gate = Table(title="SLO gate", header_style="bold")
        for column in ("SLO", "limit", "measured", "result"):
            gate.add_column(column)
        for name, result in slo.items():
            sign = "<=" if result.get("direction") == "max" else ">="
            gate.add_row(name, f"{sign} {result['limit']:g}",
                         "no data" if result["value"] is None else f"{result['value']:g}",
                         "[green]pass[/green]" if result["pass"] else "[red]FAIL[/red]")
        console.print(gate)


def run_load(request: LoadRequest, console: Console | None = None,
             env: dict[str, str] | None = None, timeout_s: float | None = None) -> tuple[int, dict[str, Any] | None]:
    """Run the load; returns (exit code, summary). Exit code: 1 if an SLO failed; with SLOs that all
    pass, 0; without SLOs, Locust's own (1 when any request failed)."""
    console = console or Console(stderr=True)
    request.validate()
    with tempfile.TemporaryDirectory(prefix="sse-load-") as tmp:
        summary_file = Path(tmp) / "summary.json"
        cmd = locust_command(request, summary_file)
        try:
            completed = subprocess.run(cmd, env=env, timeout=timeout_s, check=False)
            code = completed.returncode
        except subprocess.TimeoutExpired:
            console.print(f"[red]error:[/red] locust did not finish within {timeout_s}s")
            return 2, None
        if not summary_file.exists():
            console.print(f"[red]error:[/red] locust exited with {code} and wrote no summary (see its log above)")
            return code or 2, None
        summary: dict[str, Any] = json.loads(summary_file.read_text())
    if request.json_file is not None:
        request.json_file.parent.mkdir(parents=True, exist_ok=True)
        request.json_file.write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary, console)
    if request.slos:
        failed = slo_failed(summary)
        if failed:
            console.print(f"[red]SLO failed:[/red] {', '.join(failed)}")
            return 1, summary
        return (0 if code in (0, 1) else code), summary
    return code, summary

