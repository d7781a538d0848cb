"""``sse-harness demo``: embedded Redis + a real Celery worker + the API, and optional live jobs.

With ``--jobs N`` the demo is also its own first client: it logs in, starts N simulated transcriptions
and follows each over SSE (exactly as a browser would, resuming with Last-Event-ID), drawing progress bars.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections.abc import Callable

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from reference_app.launcher import local_stack
from reference_app.settings import redact_url
from sse_contract.status import StatusUpdate
from sse_contract.wire import Event, SSEDecoder

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
        headers = {"Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        try:
            async with client.stream("GET", f"/api/v1/sessions/{session_id}/status/stream",
                                     headers=headers, timeout=httpx.Timeout(5, read=60)) as response:
                if response.status_code == 204:
                    return final
                response.raise_for_status()
                decoder = SSEDecoder()
                async for chunk in response.aiter_raw():
                    for item in decoder.feed(chunk):
                        if isinstance(item, Event) and item.event == "status":
                            last_id = item.id
                            final = StatusUpdate.from_json(item.data)
                            on_status(final)
                if final is not None and final.terminal:
                    return final
        except httpx.HTTPError:
            await asyncio.sleep(0.5)
    return final


async def run_jobs(url: str, jobs: int, timeout_s: float, console: Console, profile: str = "realistic") -> bool:
    """Start ``jobs`` transcriptions and draw their progress; True when every one completed."""
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

            finals = await asyncio.gather(
                *(follow(client, sid, updater(task), timeout_s) for sid, task in sessions)
            )
    ok = all(f is not None and f.status.value == "completed" for f in finals)
    for (sid, _), final in zip(sessions, finals, strict=True):
        state = final.status.value if final else "timed out"
        console.print(f"{sid}: {state}")
    return ok


def run_demo(host: str, port: int, jobs: int, exit_when_done: bool, timeout_s: float, *,
             console: Console, redis_url: str | None = None) -> int:
    """Start the stack (``launcher.StartupError`` if it cannot), print ``Ready:`` once our own API answers, run the
    jobs; the exit code is 0 only if every job completed (with ``--exit-when-done``) or on Ctrl-C/SIGTERM."""

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    env = {
        "AUTH_DEV_LOGIN": os.environ.get("AUTH_DEV_LOGIN", "1"),
        "AUTH_SECRET": os.environ.get("AUTH_SECRET", secrets.token_urlsafe(32)),
    }
    try:
        with local_stack(host, port, redis_url=redis_url, env=env) as stack:
            console.print(f"Ready: {stack.url}")
            console.print(f"  Redis: {redact_url(stack.redis_url)}  (dev login on; open {stack.url}/ in a browser)")
            if jobs:
                try:
                    ok = asyncio.run(run_jobs(stack.url, jobs, timeout_s, console))
                except httpx.HTTPError as exc:
                    raise DemoError(f"the demo's jobs failed against {stack.url}: {exc}") from None
                console.print("all jobs completed" if ok else "some jobs did not complete")
                if exit_when_done:
                    return 0 if ok else 1
            while (exited := stack.exited()) is None:
                time.sleep(0.5)
            raise DemoError(exited)
    except KeyboardInterrupt:
        console.print("stopping…")
        return 0
