"""Commands that run the reference stack: ``serve``, ``worker``, ``simulate``, ``demo``."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from sse_contract.jobs import JobParams
from sse_harness.console import err, fail


def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    fd: Annotated[int | None, typer.Option(hidden=True, help="serve on this inherited listening socket")] = None,
    workers: Annotated[str, typer.Option(envvar="WEB_CONCURRENCY",
                                         help="API processes on this port: a number, or auto (= cores)")] = "1",
) -> None:
    """Run the API (uvicorn) against REDIS_URL; SIGTERM ends open streams within SSE_SHUTDOWN_GRACE_S."""
    from reference_app.app import create_app
    from reference_app.server import instance_id, run, serve_workers
    from reference_app.settings import Settings

    code: int | None = None
    try:
        if workers.strip() != "1":
            code = serve_workers(workers, host, port, fd, log_level, Settings())
        else:
            os.environ.setdefault("SSE_INSTANCE_ID", instance_id(host, port, fd))  # reclaims a crashed one's
            settings = Settings()
            application = create_app(settings)
    except (ValueError, RuntimeError, OSError) as exc:
        raise fail(str(exc)) from exc
    if code is not None:
        raise typer.Exit(code)
    run(application, host, port, grace_s=settings.sse_shutdown_grace_s, log_level=log_level, fd=fd,
        send_timeout_s=settings.sse_send_timeout_s, listen_sockets=settings.sse_listen_sockets)


def worker(
    concurrency: Annotated[int, typer.Option(help="parallel jobs")] = 8,
    pool: Annotated[str, typer.Option(help="celery pool: threads, prefork, solo")] = "threads",
    loglevel: Annotated[str, typer.Option(help="celery log level")] = "info",
) -> None:
    """Run the Celery worker that executes transcription jobs (needs REDIS_URL)."""
    from reference_app.processes import celery_worker_args

    if not os.environ.get("REDIS_URL"):
        raise fail("REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379/0)")
    args = celery_worker_args(concurrency, pool, loglevel)
    os.execv(args[0], args)


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

    from reference_app.simulate import simulate as run_simulation

    if not redis_url:
        raise fail("no Redis: pass --redis-url or set REDIS_URL")
    try:
        params = JobParams.model_validate(
            {"profile": profile, "steps": steps, "interval_ms": interval_ms, "fail_at": fail_at, "seed": seed}
        )
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc

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
        raise fail("--exit-when-done needs --jobs N")
    raise typer.Exit(run_demo(host, port, jobs, exit_when_done, timeout_s))
