"""Commands that run the reference stack: ``serve``, ``worker``, ``simulate``, ``demo``.

Each one checks everything it can before any work starts (options, settings, the Redis URL, the port) and
turns every refusal into one ``error:`` line: 2 for bad input, 1 for a start that failed.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Literal

import typer

from sse_contract.jobs import JobParams, ProfileName
from sse_harness.console import FAILED, err, fail, out, port_option, validation_line

if TYPE_CHECKING:
    from reference_app.settings import Settings

#: uvicorn's and Celery's log levels, so a typo is a usage error and not a KeyError deep inside them
UvicornLogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
CeleryLogLevel = Literal["critical", "error", "warning", "info", "debug"]
CeleryPool = Literal["threads", "prefork", "solo"]
#: how long worker and simulate wait for Redis to answer before giving up
REDIS_TIMEOUT_S = 10.0


def _settings() -> Settings:
    """The environment's settings, or one line naming the variable that is wrong."""
    from reference_app.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from None


def _wait_for_redis(url: str, name: str) -> None:
    from reference_app.launcher import StartupError, wait_for_redis
    from reference_app.settings import SettingsError, check_redis_url

    try:
        check_redis_url(url, name)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    try:
        wait_for_redis(url, REDIS_TIMEOUT_S)
    except StartupError as exc:
        raise fail(str(exc), FAILED) from None


def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, port_option()] = 8000,
    log_level: Annotated[UvicornLogLevel, typer.Option(help="uvicorn log level")] = "info",
    fd: Annotated[int | None, typer.Option(hidden=True, help="serve on this inherited listening socket")] = None,
    workers: Annotated[str, typer.Option(envvar="WEB_CONCURRENCY",
                                         help="API processes on this port: a number, or auto (= cores)")] = "1",
) -> None:
    """Run the API (uvicorn) against REDIS_URL; SIGTERM ends open streams within SSE_SHUTDOWN_GRACE_S.

    With Redis down it still starts: /healthz and every Redis-backed route answer 503 until Redis answers.
    """
    from reference_app.app import create_app
    from reference_app.launcher import StartupError, listening_socket
    from reference_app.server import instance_id, parse_workers, run, serve_workers

    settings = _settings()
    try:
        count = parse_workers(workers)
        settings.check_api_secrets()
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not settings.redis_url:
        raise fail("REDIS_URL is not set (or run `sse-harness demo` for an embedded Redis)")
    if fd is None:  # bound here: a port in use is one line, before start-up (and never shared: launcher.py)
        try:
            fd = listening_socket(host, port).detach()  # from here on the fd is served as an inherited one
        except StartupError as exc:
            raise fail(str(exc), FAILED) from None
    if count != 1:
        raise typer.Exit(serve_workers(workers, host, port, fd, log_level, settings))
    if settings.sse_instance_id is None:  # where this process serves: a restart here reclaims a crashed one's
        os.environ["SSE_INSTANCE_ID"] = instance_id(host, port, fd)
        settings = settings.model_copy(update={"sse_instance_id": os.environ["SSE_INSTANCE_ID"]})
    try:
        application = create_app(settings)
    except (ValueError, RuntimeError) as exc:
        raise fail(str(exc)) from None
    run(application, host, port, grace_s=settings.sse_shutdown_grace_s, log_level=log_level, fd=fd,
        send_timeout_s=settings.sse_send_timeout_s, listen_sockets=settings.sse_listen_sockets)


def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="parallel jobs")] = 8,
    pool: Annotated[CeleryPool, typer.Option(help="Celery pool")] = "threads",
    loglevel: Annotated[CeleryLogLevel, typer.Option(help="Celery log level")] = "info",
) -> None:
    """Run the Celery worker that executes transcription jobs (needs REDIS_URL; gives up if Redis does not
    answer within 10 s)."""
    from reference_app.processes import celery_worker_args

    settings = _settings()
    if not settings.redis_url:
        raise fail("REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379/0)")
    _wait_for_redis(settings.redis_url, "REDIS_URL")
    args = celery_worker_args(concurrency, pool, loglevel)
    os.execv(args[0], args)


#: JobParams fields as the user typed them, for one-line validation messages
SIMULATE_OPTIONS = {"profile": "--profile", "steps": "--steps", "interval_ms": "--interval-ms",
                    "fail_at": "--fail-at", "seed": "--seed"}


def simulate(
    redis_url: Annotated[str | None, typer.Option(envvar="REDIS_URL", help="Redis to publish to")] = None,
    sessions: Annotated[int, typer.Option(min=1, max=100_000, help="sessions to create")] = 1,
    profile: Annotated[ProfileName, typer.Option(help="job profile (simulators/profiles.py)")] = "steady",
    steps: Annotated[int, typer.Option(min=1, max=5000, help="progress updates per job")] = 20,
    interval_ms: Annotated[int, typer.Option(min=0, max=60_000, help="pause between updates")] = 200,
    fail_at: Annotated[int | None, typer.Option(
        min=1, help="the step at which the job fails (needed by --profile fail_at)")] = None,
    seed: Annotated[int | None, typer.Option(help="makes jittered profiles repeatable")] = None,
    owner: Annotated[str, typer.Option(help="user who owns the sessions")] = "loadtest",
    session: Annotated[list[str] | None, typer.Option(help="drive this existing session (repeatable)")] = None,
    start_delay_s: Annotated[float, typer.Option(min=0, help="wait after creating, before publishing")] = 0.0,
    ids_file: Annotated[Path | None, typer.Option(help="write the session ids here, one per line")] = None,
) -> None:
    """Publish simulated jobs for N sessions straight to Redis (no Celery), e.g. for load tests."""
    from pydantic import ValidationError
    from redis.exceptions import RedisError

    from reference_app.simulate import simulate as run_simulation
    from sse_client import redact_url

    if not redis_url:
        raise fail("no Redis: pass --redis-url or set REDIS_URL")
    try:
        params = JobParams.model_validate(
            {"profile": profile, "steps": steps, "interval_ms": interval_ms, "fail_at": fail_at, "seed": seed}
        )
    except ValidationError as exc:
        raise fail(validation_line(exc.errors(), SIMULATE_OPTIONS)) from None
    ids_out: IO[str] | None = None
    if ids_file is not None:
        try:
            ids_out = ids_file.open("w")
        except OSError as exc:
            raise fail(f"--ids-file {ids_file}: {exc.strerror or exc}") from None
    _wait_for_redis(redis_url, "--redis-url")

    def created(ids: list[str]) -> None:
        if ids_out is not None:
            ids_out.write("\n".join(ids) + "\n")
            ids_out.close()
        err.print(f"{len(ids)} sessions ready (owner {owner!r})")

    try:
        result = asyncio.run(run_simulation(
            redis_url, params, sessions=sessions, owner=owner, session_ids=session or None,
            start_delay_s=start_delay_s, on_created=created,
        ))
    except RedisError as exc:
        raise fail(f"Redis at {redact_url(redis_url)} failed during the simulation: {exc}", FAILED) from None
    print(json.dumps({"sessions": len(result.session_ids), "completed": result.completed,
                      "failed": result.failed, "events": result.events}))


def demo(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, port_option()] = 8000,
    jobs: Annotated[int, typer.Option(min=0, max=100, help="simulated transcriptions to run")] = 0,
    exit_when_done: Annotated[bool, typer.Option("--exit-when-done", help="exit once the jobs end")] = False,
    timeout_s: Annotated[float, typer.Option(min=1, help="give up on jobs after this long")] = 120.0,
) -> None:
    """Run the whole stack locally: embedded Redis (unless REDIS_URL), a Celery worker and the API.

    Prints "Ready: URL" only once its own API answers on a port it holds; a failed start is one line, exit 1,
    and leaves no process behind.
    """
    from reference_app.demo import DemoError, run_demo
    from reference_app.launcher import StartupError
    from reference_app.settings import SettingsError

    if exit_when_done and not jobs:
        raise fail("--exit-when-done needs --jobs N")
    settings = _settings()
    if "AUTH_SECRET" in os.environ:
        try:
            settings.model_copy(update={"auth_dev_login": True}).check_api_secrets()
        except ValueError as exc:
            raise fail(str(exc)) from None
    try:
        code = run_demo(host, port, jobs, exit_when_done, timeout_s, console=out, redis_url=settings.redis_url)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    except (StartupError, DemoError, RuntimeError) as exc:  # RuntimeError: the embedded redis-server
        raise fail(str(exc), FAILED) from None
    raise typer.Exit(code)
