"""``sse-harness``: one command line for the stack, the simulators, the checker and the load harness."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from simulators.profiles import JobParams

app = typer.Typer(
    name="sse-harness",
    help="Build, check and load-test Server-Sent Events status streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    fd: Annotated[int | None, typer.Option(hidden=True, help="serve on this inherited listening socket")] = None,
) -> None:
    """Run the API (uvicorn) against REDIS_URL; SIGTERM ends open streams within SSE_SHUTDOWN_GRACE_S."""
    from reference_app.app import create_app
    from reference_app.server import run
    from reference_app.settings import Settings

    try:
        settings = Settings()
        application = create_app(settings)
    except (ValueError, RuntimeError) as exc:
        raise _fail(str(exc)) from exc
    run(application, host, port, grace_s=settings.sse_shutdown_grace_s, log_level=log_level, fd=fd,
        send_timeout_s=settings.sse_send_timeout_s)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="parallel jobs")] = 8,
    pool: Annotated[str, typer.Option(help="celery pool: threads, prefork, solo")] = "threads",
    loglevel: Annotated[str, typer.Option(help="celery log level")] = "info",
) -> None:
    """Run the Celery worker that executes transcription jobs (needs REDIS_URL)."""
    from reference_app.processes import celery_worker_args

    if not os.environ.get("REDIS_URL"):
        raise _fail("REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379/0)")
    args = celery_worker_args(concurrency, pool, loglevel)
    os.execv(args[0], args)


@app.command()
def simulate(
    redis_url: Annotated[str | None, typer.Option(envvar="REDIS_URL", help="Redis to publish to")] = None,
    sessions: Annotated[int, typer.Option(min=1, max=100_000, help="sessions to create")] = 1,
    profile: Annotated[str, typer.Option(help="steady, bursty, stall, fail_at, long, realistic")] = "steady",
    steps: Annotated[int, typer.Option(min=1)] = 20,
    interval_ms: Annotated[int, typer.Option(min=0)] = 200,
    fail_at: Annotated[int | None, typer.Option()] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    owner: Annotated[str, typer.Option(help="user who owns the sessions")] = "loadtest",
    session: Annotated[list[str] | None, typer.Option(help="drive this existing session (repeatable)")] = None,
    start_delay_s: Annotated[float, typer.Option(help="wait after creating, before publishing")] = 0.0,
    ids_file: Annotated[Path | None, typer.Option(help="write the session ids here, one per line")] = None,
) -> None:
    """Publish simulated jobs for N sessions straight to Redis (no Celery), e.g. for load tests."""
    from pydantic import ValidationError

    from simulators.simulate import simulate as run_simulation

    if not redis_url:
        raise _fail("no Redis: pass --redis-url or set REDIS_URL")
    try:
        params = JobParams.model_validate(
            {"profile": profile, "steps": steps, "interval_ms": interval_ms, "fail_at": fail_at, "seed": seed}
        )
    except ValidationError as exc:
        raise _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc

    def created(ids: list[str]) -> None:
        if ids_file is not None:
            ids_file.write_text("\n".join(ids) + "\n")
        err.print(f"{len(ids)} sessions ready (owner {owner!r})")

    result = asyncio.run(run_simulation(
        redis_url, params, sessions=sessions, owner=owner, session_ids=session or None,
        start_delay_s=start_delay_s, on_created=created,
    ))
    print(json.dumps({"sessions": len(result.session_ids), "completed": result.completed,
                      "failed": result.failed, "events": result.events}))


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 = any free port)")] = 8000,
    jobs: Annotated[int, typer.Option(min=0, max=100, help="simulated transcriptions to run")] = 0,
    exit_when_done: Annotated[bool, typer.Option("--exit-when-done", help="exit once the jobs end")] = False,
    timeout_s: Annotated[float, typer.Option(help="give up on jobs after this long")] = 120.0,
) -> None:
    """Run the whole stack locally: embedded Redis (unless REDIS_URL), a Celery worker and the API."""
    from reference_app.demo import run_demo

    if exit_when_done and not jobs:
        raise _fail("--exit-when-done needs --jobs N")
    raise typer.Exit(run_demo(host, port, jobs, exit_when_done, timeout_s))


@app.command()
def check(
    url: Annotated[str, typer.Argument(help="base URL of the deployment, e.g. https://api.example.com")],
    token: Annotated[str | None, typer.Option(envvar="SSE_CHECK_TOKEN", help="bearer token")] = None,
    dev_login: Annotated[str | None, typer.Option(help="log in as USER via /auth/dev-login")] = None,
    other_token: Annotated[str | None, typer.Option(help="a second user's token (404 across users)")] = None,
    session: Annotated[str | None, typer.Option(help="existing session id (needed for --trigger none)")] = None,
    trigger: Annotated[str, typer.Option(help="how events are made: http (API hooks), redis, none")] = "http",
    redis_url: Annotated[str | None, typer.Option(help="the target's Redis, for --trigger redis")] = None,
    user: Annotated[str | None, typer.Option(help="owner of sessions created through Redis")] = None,
    idle_s: Annotated[float, typer.Option(help="how long to hold an idle stream (>= 100: Cloudflare rule)")] = 5.0,
    idle_limit_s: Annotated[float, typer.Option(help="strictest hop's idle timeout (Cloudflare 100)")] = 100.0,
    only: Annotated[list[str] | None, typer.Option(help="check ids or groups, e.g. headers,resume")] = None,
    output_format: Annotated[str, typer.Option("--format", help="text, json or junit")] = "text",
    output: Annotated[Path | None, typer.Option(help="write the report here instead of stdout")] = None,
    compare: Annotated[str | None, typer.Option(help="run the same checks on URL2, side by side")] = None,
    origin: Annotated[str | None, typer.Option(help="check CORS with credentials for this Origin")] = None,
    steps: Annotated[int, typer.Option(help="updates of the timing job")] = 8,
    interval_ms: Annotated[int, typer.Option(help="pause between the timing job's updates")] = 250,
    cap_probe: Annotated[int, typer.Option(help="streams to open looking for the per-user cap (0: off)")] = 25,
    http2: Annotated[bool, typer.Option(help="offer HTTP/2 (negotiated on https)")] = True,
    insecure: Annotated[bool, typer.Option(help="do not verify TLS certificates")] = False,
) -> None:
    """Check an SSE status deployment against docs/contract.md; exit 1 if any check fails."""
    from conformance.cli import main as run_check
    from conformance.runner import CheckOptions

    options = CheckOptions(
        url=url, token=token, dev_login=dev_login, other_token=other_token, session=session,
        trigger=trigger, redis_url=redis_url, user=user, idle_s=idle_s, idle_limit_s=idle_limit_s,  # type: ignore[arg-type]
        only=only, origin=origin,
        steps=steps, interval_ms=interval_ms, cap_probe=cap_probe, http2=http2, verify=not insecure,
    )
    if trigger not in ("http", "redis", "none"):
        raise _fail(f"--trigger must be http, redis or none, got {trigger!r}")
    raise typer.Exit(run_check(options, output_format=output_format, output=output,  # type: ignore[arg-type]
                               compare=compare))


@app.command()
def proxy(
    upstream: Annotated[str, typer.Option(help="origin base URL, e.g. http://127.0.0.1:8000")],
    mode: Annotated[list[str] | None, typer.Option(
        "--mode", "-m",
        help="fault, repeatable: pass, buffer, buffer-bytes=N, gzip, idle-timeout=S, kill-after=S, "
             "drop-every=N, latency=MS, status=503, error-path=REGEX")] = None,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 = any free port)")] = 8080,
) -> None:
    """Fault-injecting HTTP proxy in front of UPSTREAM (buffering, gzip, idle cuts, 502/503, ...)."""
    from simulators.fault_proxy import main as run_proxy

    raise typer.Exit(run_proxy(upstream, mode or [], host, port))


@app.command()
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
        raise _fail(str(exc)) from exc
    raise typer.Exit(code)


bench_app = typer.Typer(help="Benchmarks of the reference stack.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("capacity")
def bench_capacity(
    streams: Annotated[int, typer.Option(min=1, max=100_000, help="concurrent streams to open")] = 1000,
    sessions: Annotated[int, typer.Option(min=1, help="sessions the streams watch (1 = pure fan-out)")] = 1,
    sustain_rate: Annotated[float, typer.Option(help="sustained phase: events published per second")] = 5.0,
    sustain_s: Annotated[float, typer.Option(help="sustained phase duration")] = 10.0,
    transport: Annotated[str, typer.Option(help="client transport: raw or fasthttp")] = "raw",
    json_file: Annotated[Path | None, typer.Option("--json", help="write the results JSON here")] = None,
) -> None:
    """Start the reference stack locally, open N streams from a separate process and measure capacity."""
    from loadtests.bench import BenchUsageError, run_capacity

    try:
        code = run_capacity(streams=streams, sessions=sessions, sustain_rate=sustain_rate,
                            sustain_s=sustain_s, transport=transport, json_file=json_file, console=err)
    except BenchUsageError as exc:
        raise _fail(str(exc)) from exc
    raise typer.Exit(code)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
