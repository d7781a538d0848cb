"""Real services for tests, benchmarks and other tools: each starts on a free port and always cleans up.

* ``ApiProcess``: ``sse-harness serve`` in a child process on a socket bound to port 0 by the parent
  (no port race), with its own environment; can be SIGTERMed, SIGKILLed and restarted on the same port.
* ``WorkerProcess``: a real Celery worker.
* ``serve_asgi``: any ASGI app on a real uvicorn in a thread (for deliberately broken test apps).
* ``Client helpers``: dev-login and session set-up over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from reference_app.processes import api_args, celery_worker_args, spawn, stop

__all__ = ["ApiProcess", "WorkerProcess", "login", "new_session", "serve_asgi", "wait_until"]

TEST_SECRET = "test-secret-" + secrets.token_hex(16)


def wait_until(predicate: Any, timeout: float, interval: float = 0.02, message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; raise ``TimeoutError`` naming ``message``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def _listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # lets the API add accept queues on the same port (reference_app.server.accept_queues)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


@dataclass
class ApiProcess:
    """``sse-harness serve`` as a child process. ``env`` adds settings (e.g. ``SSE_HEARTBEAT_S``)."""

    redis_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 0
    log_path: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> ApiProcess:
        sock = _listening_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        env = {
            "REDIS_URL": self.redis_url,
            "AUTH_DEV_LOGIN": "1",
            "AUTH_SECRET": TEST_SECRET,
            **self.env,
        }
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        out = log.fileno() if log is not None else subprocess.DEVNULL
        try:
            self.process = spawn(api_args(self.host, self.port, fd=sock.fileno()), env,
                                 stdout=out, stderr=out if log is not None else None, pass_fds=[sock.fileno()])
        finally:
            sock.close()
            if log is not None:
                log.close()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"API process exited with {self.process.returncode} during start-up")
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            return False

        wait_until(healthy, timeout, 0.05, f"{self.url}/healthz")

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return stop(self.process, timeout)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def restart(self, timeout: float = 30.0) -> None:
        """Start again on the same port (clients reconnect to the same URL)."""
        if self.process is not None and self.process.poll() is None:
            self.terminate()
        self.start(timeout)

    def __enter__(self) -> ApiProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop(self.process, 10)


@dataclass
class WorkerProcess:
    redis_url: str
    concurrency: int = 8
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {"REDIS_URL": self.redis_url, **self.env}
        self.process = spawn(celery_worker_args(self.concurrency, quiet=True), env,
                             stdout=subprocess.DEVNULL)
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, 15)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve_asgi(app: Any, host: str = "127.0.0.1", **config: Any) -> Iterator[str]:
    """Run ``app`` on a real uvicorn in a background thread; yields its base URL."""
    sock = _listening_socket(host)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="auto",
                                           timeout_graceful_shutdown=1, **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 10, message="uvicorn thread to start")
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def login(base_url: str, username: str) -> str:
    """Dev-login; returns the bearer token."""
    response = httpx.post(f"{base_url}/api/v1/auth/dev-login", json={"username": username}, timeout=10)
    response.raise_for_status()
    return str(response.json()["access_token"])


def new_session(base_url: str, token: str, title: str = "test") -> str:
    response = httpx.post(f"{base_url}/api/v1/sessions", json={"title": title},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return str(response.json()["id"])


def env_redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


@dataclass
class StreamResult:
    """What a client saw on one SSE request: status, headers, items with arrival times, how it ended."""

    status_code: int
    headers: httpx.Headers
    items: list[tuple[float, Any]] = field(default_factory=list)
    ended_by_server: bool = False
    opened_at: float = 0.0
    first_byte_at: float | None = None

    @property
    def events(self) -> list[Any]:
        from sse_contract.wire import Event

        return [item for _, item in self.items if isinstance(item, Event)]

    @property
    def status_events(self) -> list[Any]:
        return [e for e in self.events if e.event == "status"]

    @property
    def ids(self) -> list[int]:
        return [int(e.id) for e in self.status_events]


def collect_stream(
    url: str,
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    until: Any = None,
    timeout: float = 10.0,
) -> StreamResult:
    """Read an SSE response until the server ends it, ``until(result)`` is true (checked after every item),
    or ``timeout`` passes (then ``TimeoutError``). For synchronous tests: reads with the project's one async
    SSE reader (``sse_client``) on an event loop of its own."""
    return asyncio.run(_collect_stream(url, token, headers, params, until, timeout))


async def _collect_stream(url: str, token: str | None, headers: Mapping[str, str] | None,
                          params: Mapping[str, str] | None, until: Any, timeout: float) -> StreamResult:
    from sse_client import open_stream

    request_headers = dict(headers or {})
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    result: StreamResult | None = None
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=timeout) as client, \
                open_stream(client, url, headers=request_headers, params=params) as stream:
            result = StreamResult(stream.status_code, stream.headers, opened_at=stream.opened_at)
            if stream.status_code != 200:
                await stream.body()
                return result
            async for arrival in stream.arrivals():
                result.first_byte_at = stream.first_byte_at
                result.items.append((arrival.at, arrival.item))
                if until is not None and until(result):
                    return result
            result.ended_by_server = stream.ended_by_server
            return result
    except TimeoutError:
        seen = result.ids if result is not None else []
        raise TimeoutError(f"stream still open after {timeout}s; saw ids {seen}") from None
