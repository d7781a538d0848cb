"""Starts the reference stack's processes: the one launcher of the demo, the test fixtures and the benchmark.

What it guarantees, whoever calls it:

* **the port is ours**: the listening socket is bound here, in the parent, and handed to ``sse-harness serve``
  (``--fd``). A port in use or out of range is a ``StartupError`` before anything starts, port 0 gets a free
  port with no probe-then-bind race, and every health check afterwards reaches our server and no other;
* **start-up is bounded**: Redis must answer within ``redis_timeout_s``, the API's ``/healthz`` within
  ``timeout``; otherwise a one-line ``StartupError`` says what did not come up;
* **no child outlives a failure**: whatever fails, every process started so far is stopped before the error
  propagates; children also get SIGTERM if this process dies (``processes.spawn``), including the embedded
  ``redis-server``.
* **stopping is a flag, not an exception from a signal handler**: a caller that wants Ctrl-C / SIGTERM to end
  start-up passes ``interrupt`` (an Event its handler sets); every wait here checks it and raises ``Interrupted``
  at a safe point. (Raising ``KeyboardInterrupt`` from a handler lands anywhere: inside an import, or inside a
  ``__del__`` that swallows it — measured: 2 in 25 demos stopped during start-up then hung or died by SIGINT.)
"""

from __future__ import annotations

import contextlib
import errno
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis
import uvicorn

from reference_app.embedded_redis import EmbeddedRedis
from reference_app.processes import api_args, celery_worker_args, spawn, stop
from reference_app.settings import check_redis_url
from sse_client import redact_url

__all__ = [
    "TEST_SECRET", "ApiProcess", "Interrupted", "LocalStack", "StartupError", "WorkerProcess", "listening_socket",
    "local_stack", "serve_asgi", "wait_for_redis", "wait_until",
]

TEST_SECRET = "test-secret-" + secrets.token_hex(16)
#: how long a launcher waits for Redis to answer a PING before giving up
REDIS_TIMEOUT_S = 10.0


class StartupError(RuntimeError):
    """A stack that could not start; the message is one line saying what and why."""


class Interrupted(StartupError):
    """Start-up was stopped on request (the ``interrupt`` event was set)."""

    def __init__(self) -> None:
        super().__init__("stopped (Ctrl-C or SIGTERM) before the stack was ready; nothing is left running")


def _check(interrupt: threading.Event | None) -> None:
    if interrupt is not None and interrupt.is_set():
        raise Interrupted


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


def listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening, inheritable TCP socket on ``host:port`` (0 = any free port), or a ``StartupError``.

    Bound with SO_REUSEPORT, so that the API can add accept queues on the same port
    (``reference_app.server.accept_queues``). SO_REUSEPORT would also let this socket join a port another
    server holds with SO_REUSEPORT (another ``serve``, nginx ``reuseport``) and share its connections; so a
    given port is first probed with a plain bind, which fails while anybody listens there.
    """
    if not 0 <= port <= 65535:
        raise StartupError(f"port {port} is out of range (1-65535, or 0 for any free port)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    family, _, _, _, address = infos[0]
    if port:
        _bind_or_fail(socket.socket(family, socket.SOCK_STREAM), address, host, port, reuseport=False).close()
    sock = _bind_or_fail(socket.socket(family, socket.SOCK_STREAM), address, host, port, reuseport=True)
    try:
        sock.listen(4096)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _bind_or_fail(sock: socket.socket, address: Any, host: str, port: int, *, reuseport: bool) -> socket.socket:
    """``sock`` bound to ``address`` (SO_REUSEADDR only skips TIME_WAIT leftovers), or a ``StartupError``."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = "the port is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise StartupError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def wait_for_redis(url: str, timeout_s: float = REDIS_TIMEOUT_S, interrupt: threading.Event | None = None) -> None:
    """Return once Redis at ``url`` answers PING; a ``StartupError`` naming it (password masked) after
    ``timeout_s``. A bad URL is refused at once (``SettingsError``, a ``ValueError``)."""
    check_redis_url(url, "the Redis URL")
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    deadline = time.monotonic() + timeout_s
    reason = "no answer"
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.exceptions.AuthenticationError as exc:
                raise StartupError(f"Redis at {redact_url(url)} refused the credentials: {exc}") from None
            except redis.exceptions.ResponseError as exc:
                raise StartupError(f"Redis at {redact_url(url)} refused PING: {exc}") from None
            except redis.exceptions.RedisError as exc:
                reason = str(exc).split(". ")[-1].strip(".") or type(exc).__name__
            _check(interrupt)
            if time.monotonic() >= deadline:
                raise StartupError(f"Redis at {redact_url(url)} is unreachable (gave up after {timeout_s:g}s): "
                                   f"{reason}")
            time.sleep(0.2)
    finally:
        client.close()


@dataclass
class ApiProcess:
    """``sse-harness serve`` as a child on a socket this process bound. ``env`` adds settings
    (e.g. ``SSE_HEARTBEAT_S``); ``log_path`` collects its output (default: stderr inherited, stdout dropped)."""

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

    def start(self, timeout: float = 30.0, sock: socket.socket | None = None,
              interrupt: threading.Event | None = None) -> ApiProcess:
        """Start on ``sock`` (a listening socket the caller bound, closed here) or on a new one."""
        sock = sock or listening_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        env = {"REDIS_URL": self.redis_url, "AUTH_DEV_LOGIN": "1", "AUTH_SECRET": TEST_SECRET, **self.env}
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        out = log.fileno() if log is not None else subprocess.DEVNULL
        try:
            self.process = spawn(api_args(self.host, self.port, fd=sock.fileno()), env,
                                 stdout=out, stderr=out if log is not None else None, pass_fds=[sock.fileno()])
        finally:
            sock.close()
            if log is not None:
                log.close()
        try:
            self.wait_healthy(timeout, interrupt)
        except BaseException:
            stop(self.process, 10)
            raise
        return self

    def wait_healthy(self, timeout: float = 30.0, interrupt: threading.Event | None = None) -> None:
        """Until ``/healthz`` answers 200: a ``StartupError`` if the process exits or time runs out."""
        last = "no answer"
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1) as client:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise StartupError(f"the API process exited with {self.process.returncode} during start-up")
                try:
                    response = client.get(f"{self.url}/healthz")
                    if response.status_code == 200:
                        return
                    last = f"/healthz answered {response.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                _check(interrupt)
                if time.monotonic() >= deadline:
                    raise StartupError(f"the API on {self.url} was not healthy within {timeout:g}s ({last})")
                time.sleep(0.05)

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
            stop(self.process, 30)  # with --workers the parent drains its workers first


@dataclass
class WorkerProcess:
    """A real Celery worker (``celery -A reference_app.worker.main worker``) on ``redis_url``."""

    redis_url: str
    concurrency: int = 8
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {"REDIS_URL": self.redis_url, **self.env}
        self.process = spawn(celery_worker_args(self.concurrency, quiet=True), env, stdout=subprocess.DEVNULL)
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


@dataclass
class LocalStack:
    """What ``local_stack`` started: the API's URL, the Redis it uses, and the processes to watch."""

    url: str
    redis_url: str
    api: ApiProcess
    worker: WorkerProcess | None
    redis: EmbeddedRedis | None

    def exited(self) -> str | None:
        """One line naming a child that is no longer running, or None while all run."""
        children = {"API": self.api.process, "Celery worker": self.worker.process if self.worker else None,
                    "embedded redis-server": self.redis.process if self.redis else None}
        for name, process in children.items():
            if process is not None and process.poll() is not None:
                return f"the {name} process exited with {process.returncode}"
        return None


@contextlib.contextmanager
def local_stack(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    redis_url: str | None = None,
    env: Mapping[str, str] | None = None,
    worker: bool = True,
    log_path: str | None = None,
    timeout: float = 30.0,
    redis_timeout_s: float = REDIS_TIMEOUT_S,
    interrupt: threading.Event | None = None,
) -> Iterator[LocalStack]:
    """Redis (``redis_url``, or an embedded one when None), a Celery worker (unless ``worker=False``) and the
    API on ``host:port``; everything is stopped on exit, and on any failure before the yield. Setting
    ``interrupt`` during start-up ends it with ``Interrupted``."""
    with contextlib.ExitStack() as started:
        # The port first: it is the cheapest thing to get wrong, and nothing else has started yet.
        sock = listening_socket(host, port)
        started.callback(sock.close)
        embedded: EmbeddedRedis | None = None
        if redis_url is None:
            embedded = started.enter_context(EmbeddedRedis())
            redis_url = embedded.url
        else:
            wait_for_redis(redis_url, redis_timeout_s, interrupt)
        _check(interrupt)
        child_env = {"REDIS_URL": redis_url, **(env or {})}
        celery: WorkerProcess | None = None
        if worker:
            celery = started.enter_context(WorkerProcess(redis_url, env=child_env))
        api = ApiProcess(redis_url, env=child_env, host=host, port=sock.getsockname()[1], log_path=log_path)
        started.callback(api.__exit__)
        _check(interrupt)
        api.start(timeout, sock, interrupt)
        if celery is not None and celery.process is not None and celery.process.poll() is not None:
            raise StartupError(f"the Celery worker exited with {celery.process.returncode} during start-up")
        _check(interrupt)  # a stop asked for while the last health check was in flight
        yield LocalStack(url=api.url, redis_url=redis_url, api=api, worker=celery, redis=embedded)


@contextlib.contextmanager
def serve_asgi(app: Any, host: str = "127.0.0.1", **config: Any) -> Iterator[str]:
    """Run ``app`` on a real uvicorn in a background thread (deliberately broken test apps); yields its URL."""
    sock = listening_socket(host)
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
