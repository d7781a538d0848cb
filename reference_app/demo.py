"""``sse-harness demo``: embedded Redis + a real Celery worker + the API, and optional live jobs.

With ``--jobs N`` the demo is also its own first client: it logs in, starts N simulated transcriptions
and follows each over SSE (exactly as a browser would, resuming with Last-Event-ID), drawing progress bars.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from reference_app.launcher import local_stack
from sse_client import open_stream, redact_url
from sse_contract.status import StatusUpdate
from sse_contract.wire import Event

__all__ = ["DemoError", "follow", "run_demo", "run_jobs"]


class DemoError(RuntimeError):
    """The demo could not do what it was asked; one line for the user."""


async def follow(client: httpx.AsyncClient, session_id: str, on_status: Callable[[StatusUpdate], None],
                 timeout_s: float) -> StatusUpdate | None:
    """Follow one session's stream to its terminal status, reconnecting with Last-Event-ID."""
    last_id: str | None = None
    final: StatusUpdate | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            async with open_stream(client, f"/api/v1/sessions/{session_id}/status/stream", last_event_id=last_id,
                                   timeout=httpx.Timeout(5, read=60)) as stream:
                if stream.status_code == 204:
                    return final
                stream.response.raise_for_status()
                async for arrival in stream.arrivals():
                    item = arrival.item
                    if isinstance(item, Event) and item.event == "status":
                        last_id = item.id
                        final = StatusUpdate.from_json(item.data)
                        on_status(final)
                if final is not None and final.terminal:
                    return final
        except httpx.HTTPError:
            await asyncio.sleep(0.5)
    return final


async def run_jobs(url: str, jobs: int, timeout_s: float, console: Console, profile: str = "realistic",
                   stop: threading.Event | None = None) -> bool | None:
    """Start ``jobs`` transcriptions and draw their progress; True when every one completed, None when
    ``stop`` was set first."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        login = await client.post("/api/v1/auth/dev-login", json={"username": "demo"})
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[state]:<10} {task.fields[message]}"), TimeElapsedColumn(),
            console=console,
        )
        with progress:
            sessions: list[tuple[str, TaskID]] = []
            for i in range(jobs):
                created = await client.post("/api/v1/sessions", json={"title": f"demo job {i + 1}"})
                created.raise_for_status()
                sid = created.json()["id"]
                task = progress.add_task(f"job {i + 1} {sid[:8]}", total=100, state="pending", message="")
                sessions.append((sid, task))
                body = {"profile": profile, "audio_duration_s": 300 + 120 * i, "seed": i}
                (await client.post(f"/api/v1/sessions/{sid}/transcribe", json=body)).raise_for_status()

            def updater(task: TaskID) -> Callable[[StatusUpdate], None]:
                def on_status(update: StatusUpdate) -> None:
                    progress.update(task, completed=update.progress, state=update.status.value,
                                    message=update.message[:40])
                return on_status

            following = asyncio.gather(*(follow(client, sid, updater(task), timeout_s) for sid, task in sessions))
            watching = asyncio.ensure_future(_until_set(stop))
            racing: set[asyncio.Future[Any]] = {following, watching}
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            watching.cancel()
            if not following.done():
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await following
                return None
            finals = following.result()
    ok = all(f is not None and f.status.value == "completed" for f in finals)
    for (sid, _), final in zip(sessions, finals, strict=True):
        state = final.status.value if final else "timed out"
        console.print(f"{sid}: {state}")
    return ok


async def _until_set(event: threading.Event | None) -> None:
    """Return once ``event`` is set (never, for None): a signal handler's flag, seen from the event loop."""
    while event is None or not event.is_set():  # noqa: ASYNC110 - a threading.Event, set by a signal handler
        await asyncio.sleep(0.2)


def run_demo(host: str, port: int, jobs: int, exit_when_done: bool, timeout_s: float, *,
             console: Console, redis_url: str | None = None) -> int:
    """Start the stack (``launcher.StartupError`` if it cannot), print ``Ready:`` once our own API answers, run the
    jobs; the exit code is 0 only if every job completed (with ``--exit-when-done``), or on Ctrl-C/SIGTERM
    once ready without ``--exit-when-done``. Stopped earlier: ``launcher.Interrupted`` or ``DemoError``."""

    # The handlers only raise a flag; the launcher's waits and the loops below look at it (launcher.py says
    # why an exception raised from a handler is not safe).
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    env = {
        "AUTH_DEV_LOGIN": os.environ.get("AUTH_DEV_LOGIN", "1"),
        "AUTH_SECRET": os.environ.get("AUTH_SECRET", secrets.token_urlsafe(32)),
    }
    with local_stack(host, port, redis_url=redis_url, env=env, interrupt=stop) as stack:
        console.print(f"Ready: {stack.url}")
        console.print(f"  Redis: {redact_url(stack.redis_url)}  (dev login on; open {stack.url}/ in a browser)")
        if jobs:
            try:
                ok = asyncio.run(run_jobs(stack.url, jobs, timeout_s, console, stop=stop))
            except httpx.HTTPError as exc:
                raise DemoError(f"the demo's jobs failed against {stack.url}: {exc}") from None
            if ok is None:
                if exit_when_done:
                    raise DemoError(f"stopped (Ctrl-C or SIGTERM) before the {jobs} jobs ended")
            else:
                console.print("all jobs completed" if ok else "some jobs did not complete")
                if exit_when_done:
                    return 0 if ok else 1
        while not stop.is_set():
            if (exited := stack.exited()) is not None:
                raise DemoError(exited)
            stop.wait(0.5)
        console.print("stopping…")
        return 0
