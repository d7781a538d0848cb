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
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from reference_app.embedded_redis import EmbeddedRedis, free_port
from reference_app.processes import api_args, celery_worker_args, spawn, stop
from sse_client import open_stream
from sse_contract.status import StatusUpdate
from sse_contract.wire import Event

console = Console(stderr=False)


@dataclass
class DemoStack:
    url: str
    redis_url: str
    processes: list[subprocess.Popen[bytes]]


def wait_healthy(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            for p in processes:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args!r} exited with {p.returncode} during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/healthz").status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"{url}/healthz did not answer 200 within {timeout:.0f}s")


@contextlib.contextmanager
def demo_stack(host: str, port: int, *, env: dict[str, str] | None = None) -> Iterator[DemoStack]:
    """Start (embedded Redis,) worker and API; stop all of them on exit, whatever happened."""
    redis_server: EmbeddedRedis | None = None
    processes: list[subprocess.Popen[bytes]] = []
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_server = EmbeddedRedis().start()
            redis_url = redis_server.url
        child_env = {
            "REDIS_URL": redis_url,
            "AUTH_DEV_LOGIN": os.environ.get("AUTH_DEV_LOGIN", "1"),
            "AUTH_SECRET": os.environ.get("AUTH_SECRET", secrets.token_urlsafe(32)),
            **(env or {}),
        }
        port = port or free_port()
        processes.append(spawn(celery_worker_args(quiet=True), child_env))
        processes.append(spawn(api_args(host, port), child_env))
        url = f"http://{host}:{port}"
        wait_healthy(url, processes)
        yield DemoStack(url=url, redis_url=redis_url, processes=processes)
    finally:
        for process in reversed(processes):
            stop(process)
        if redis_server is not None:
            redis_server.stop()


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


async def run_jobs(url: str, jobs: int, timeout_s: float, profile: str = "realistic") -> bool:
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


def run_demo(host: str, port: int, jobs: int, exit_when_done: bool, timeout_s: float) -> int:
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        with demo_stack(host, port) as stack:
            console.print(f"Ready: {stack.url}", highlight=False, soft_wrap=True)
            console.print(f"  Redis: {stack.redis_url}  (dev login on; open {stack.url}/ in a browser)")
            ok = True
            if jobs:
                ok = asyncio.run(run_jobs(stack.url, jobs, timeout_s))
                console.print("all jobs completed" if ok else "some jobs did not complete")
                if exit_when_done:
                    return 0 if ok else 1
            while True:
                for p in stack.processes:
                    if p.poll() is not None:
                        console.print(f"[red]{p.args!r} exited ({p.returncode})[/red]")
                        return 1
                time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping…")
        return 0
