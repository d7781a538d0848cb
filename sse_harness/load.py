"""``sse-harness load``: a headless Locust SSE load with SLO gates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sse_harness.console import err, fail


def load(
    host: Annotated[str, typer.Option(help="base URL of the target, e.g. http://127.0.0.1:8000")],
    scenario: Annotated[str, typer.Option(
        help="steady, fanout, connect-storm, reconnect-storm, polling, mixed")] = "steady",
    users: Annotated[int, typer.Option(help="concurrent users (each holds one stream or poller)")] = 100,
    spawn_rate: Annotated[float, typer.Option(help="users started per second")] = 50.0,
    run_time: Annotated[str, typer.Option(help="e.g. 30s, 5m")] = "30s",
    processes: Annotated[int | None, typer.Option(help="Locust worker processes (-1 = one per CPU)")] = None,
    slo: Annotated[list[str] | None, typer.Option(
        help="gate NAME=VALUE, repeatable: p99_latency_ms=500, error_rate=0.001, gaps=0, streams_peak=500")] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="write the summary JSON here")] = None,
    html_file: Annotated[Path | None, typer.Option("--html", help="write Locust's HTML report here")] = None,
    source: Annotated[str, typer.Option(help="job driver: api (POST .../transcribe) or redis")] = "api",
    redis_url: Annotated[str, typer.Option(help="the target's Redis, for --source redis")] = "",
    transport: Annotated[str, typer.Option(help="stream reader: raw (gevent sockets) or fasthttp")] = "raw",
    profile: Annotated[str | None, typer.Option(help="job profile override (steady, bursty, ...)")] = None,
    steps: Annotated[int | None, typer.Option(help="progress updates per job (override)")] = None,
    interval_ms: Annotated[int | None, typer.Option(help="pause between updates (override)")] = None,
    jobs_per_user: Annotated[int, typer.Option(help="jobs each user follows, then idles (0 = no limit)")] = 0,
    cut_every_s: Annotated[float | None, typer.Option(help="client-side stream cuts (reconnect storms)")] = None,
    reconnect_delay_ms: Annotated[int | None, typer.Option(help="fixed reconnect delay (default: retry:)")] = None,
    poll_interval_ms: Annotated[int | None, typer.Option(help="polling scenario: time between polls")] = None,
    stop_timeout: Annotated[str, typer.Option(help="let users finish their current job at the end")] = "0",
) -> None:
    """Run a Locust SSE load (headless), print the summary, exit 1 if an SLO fails."""
    from loadtests.runner import LoadRequest, LoadUsageError, run_load

    request = LoadRequest(
        host=host, scenario=scenario, users=users, spawn_rate=spawn_rate, run_time=run_time,
        processes=processes, slos=slo or [], json_file=json_file, html_file=html_file, source=source,
        redis_url=redis_url, transport=transport, profile=profile, steps=steps, interval_ms=interval_ms,
        jobs_per_user=jobs_per_user, cut_every_s=cut_every_s, reconnect_delay_ms=reconnect_delay_ms,
        poll_interval_ms=poll_interval_ms, stop_timeout=stop_timeout,
    )
    try:
        code, _summary = run_load(request, err)
    except LoadUsageError as exc:
        raise fail(str(exc)) from exc
    raise typer.Exit(code)
