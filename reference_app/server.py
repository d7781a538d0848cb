"""Run the API on uvicorn so that SIGTERM ends open streams promptly.

Plain uvicorn waits for every open response before it shuts down, and an SSE stream never finishes by
itself: a deploy would hang until the platform kills the process. Here SIGTERM/SIGINT first tells the
stream registry to end every stream (clients reconnect elsewhere and resume with Last-Event-ID), then
uvicorn shuts down as usual, with ``timeout_graceful_shutdown`` as the backstop. When running plain
``uvicorn reference_app.main:app``, pass ``--timeout-graceful-shutdown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from reference_app.processes import python_module, spawn
from reference_app.settings import Settings
from reference_app.stream_registry import StreamRegistry

log = logging.getLogger(__name__)


class GracefulServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        app = self.config.loaded_app
        registry = _find_registry(app)
        if registry is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(registry.begin_shutdown)
        super().handle_exit(sig, frame)

    async def serve(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)  # type: ignore[arg-type]

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for sock in (sockets or [])[:1]:  # uvicorn names no address for sockets it was handed
            host, port = sock.getsockname()[:2]
            logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)",
                                                    host, port)
        if self.send_timeout_s is not None:
            for server in getattr(self, "servers", []):
                for sock in server.sockets:
                    set_user_timeout(sock, self.send_timeout_s)

    _loop: asyncio.AbstractEventLoop | None = None
    send_timeout_s: float | None = None


def set_user_timeout(sock: Any, seconds: float) -> None:
    """TCP_USER_TIMEOUT on a listening socket (accepted sockets inherit it): the kernel aborts a connection
    whose sent bytes stay unacknowledged that long, zero-window probes included (Linux).

    Why: when a stream is cut for a client that reads nothing, uvicorn ends the response with
    ``transport.close()``, which waits for the write buffer to drain — forever, for that client. The
    connection then pins its socket buffers (megabytes of kernel memory) and delays a graceful shutdown
    to its full timeout. Measured in tests/faults/test_slow_client.py.
    """
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, max(1, int(seconds * 1000)))


def _find_registry(app: object) -> StreamRegistry | None:
    # uvicorn wraps the app in middleware (proxy headers, ...); walk down to the FastAPI instance.
    seen = 0
    while app is not None and seen < 10:
        if isinstance(app, FastAPI):
            registry = getattr(app.state, "streams", None)
            return registry if isinstance(registry, StreamRegistry) else None
        app = getattr(app, "app", None)
        seen += 1
    return None


def make_config(app: FastAPI, host: str, port: int, *, grace_s: float, log_level: str = "info",
                fd: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        fd=fd,
        loop="auto",
        http="auto",
        lifespan="on",
        log_level=log_level,
        timeout_graceful_shutdown=max(1, int(grace_s)),
        timeout_keep_alive=5,
        backlog=BACKLOG,
        proxy_headers=True,
        server_header=False,
    )


def run(app: FastAPI, host: str, port: int, *, grace_s: float, log_level: str = "info",
        fd: int | None = None, send_timeout_s: float | None = None, listen_sockets: int = 1) -> None:
    server = GracefulServer(make_config(app, host, port, grace_s=grace_s, log_level=log_level, fd=fd))
    server.send_timeout_s = send_timeout_s
    server.run(sockets=accept_queues(host, port, fd, listen_sockets) if listen_sockets > 1 else None)


BACKLOG = 4096


def _reuseport_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def accept_queues(host: str, port: int, fd: int | None, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address (SO_REUSEPORT), each with its own accept queue.

    Why: a reconnect storm sends every SYN at once. One socket queues at most ``somaxconn`` (4,096 here)
    connections that the event loop has not accepted yet; the rest are dropped and the clients retry their
    SYN after 1, 3, 7, 15 s — measured: 10,000 viewers took 16.5 s to be live again, with 6,000 listen
    overflows. With several sockets the kernel spreads new connections over their queues. An inherited
    ``fd`` joins the group only if it was bound with SO_REUSEPORT (``reference_app.launcher`` binds so);
    otherwise it is served alone, with a warning.
    """
    base = listening_socket(host, port, fd, inheritable=False)
    sockets = [base]
    if not base.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT):
        log.warning("the listening socket was not bound with SO_REUSEPORT: one accept queue only")
        return sockets
    address = base.getsockname()
    for _ in range(count - 1):
        extra = _reuseport_socket(base.family)
        extra.bind(address)
        extra.listen(BACKLOG)
        sockets.append(extra)
    return sockets


def instance_id(host: str, port: int, fd: int | None) -> str:
    """Where this API process serves (host, port, worker number): stable across a restart in the same place.
    A platform's own instance id, if set as ``SSE_INSTANCE_ID``, takes precedence."""
    if fd is not None:
        probe = socket.socket(fileno=os.dup(fd))
        try:
            port = probe.getsockname()[1]
        finally:
            probe.close()
    return f"{socket.gethostname()}:{port}:w{os.environ.get(WORKER_ENV, '0')}"


# -- several processes on one port ------------------------------------------------------------------------

WORKER_ENV = "SSE_WORKER_INDEX"


def parse_workers(value: str) -> int:
    """``--workers``: a positive number, or ``auto`` for the number of cores."""
    if value.strip().lower() == "auto":
        return max(1, os.cpu_count() or 1)
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"--workers must be a positive number or 'auto', got {value!r}") from None
    if count < 1:
        raise ValueError(f"--workers must be at least 1, got {count}")
    return count


def listening_socket(host: str, port: int, fd: int | None, *, inheritable: bool = True) -> socket.socket:
    """The inherited ``fd``, or ``host:port`` bound here with SO_REUSEPORT; ``inheritable`` for the one
    socket every worker of a ``WorkerPool`` accepts on."""
    if fd is not None:
        sock = socket.socket(fileno=fd)
    else:
        sock = _reuseport_socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    if inheritable:
        sock.set_inheritable(True)
    return sock


class WorkerPool:
    """N ``sse-harness serve`` processes on one inherited listening socket (the kernel hands each new
    connection to whichever worker accepts first, so a busy worker takes fewer).

    Each worker is a whole API process: its own event loop, its one shared subscriber, its own command pool.
    SIGTERM/SIGINT to this parent is forwarded to every worker, which ends its streams and shuts down within
    the grace period; a worker that is still alive ``grace_s + 5`` s later is killed. A worker that dies
    while serving is started again (its cap leases in Redis expire by themselves). Metrics use
    prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``): counters and gauges are summed
    over the workers, whichever answers ``/metrics``.
    """

    def __init__(self, count: int, worker_args: Callable[[int], list[str]], sock: socket.socket,
                 grace_s: float) -> None:
        self.count = count
        self.worker_args = worker_args
        self.sock = sock
        self.grace_s = grace_s
        self.metrics_dir = tempfile.mkdtemp(prefix="sse-metrics-")
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def _spawn(self, index: int) -> None:
        env = {"PROMETHEUS_MULTIPROC_DIR": self.metrics_dir, WORKER_ENV: str(index), "WEB_CONCURRENCY": "1"}
        if "SSE_INSTANCE_ID" in os.environ:  # a platform's id: each worker gets its own place in it
            env["SSE_INSTANCE_ID"] = f"{os.environ['SSE_INSTANCE_ID']}:w{index}"
        self.workers[index] = spawn(self.worker_args(self.sock.fileno()), env, pass_fds=[self.sock.fileno()])

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for process in self.workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._signal)
        try:
            for index in range(self.count):
                self._spawn(index)
            log.info("serving with %d worker processes (pids %s)", self.count,
                     [p.pid for p in self.workers.values()])
            restarts = 0
            while not self.stopping:
                time.sleep(0.2)  # supervising children: poll their exit, nothing to wait on
                for index, process in list(self.workers.items()):
                    code = process.poll()
                    if code is None or self.stopping:
                        continue
                    _mark_dead(process.pid)
                    restarts += 1
                    log.error("worker %d (pid %d) exited with %s; starting it again", index, process.pid, code)
                    time.sleep(min(5.0, 0.2 * restarts))
                    self._spawn(index)
            return self._drain()
        finally:
            for process in self.workers.values():
                if process.poll() is None:
                    process.kill()
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
            self.sock.close()

    def _drain(self) -> int:
        deadline = time.monotonic() + self.grace_s + 5
        worst = 0
        for process in self.workers.values():
            try:
                code = process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop within %.0fs; killing it", process.pid, self.grace_s + 5)
                process.kill()
                code = process.wait(5)
            worst = worst or (code if code not in (0, -signal.SIGTERM) else 0)
        return worst


def _mark_dead(pid: int) -> None:
    with contextlib.suppress(Exception):  # only in multiprocess mode, and never fatal
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve_workers(workers: str, host: str, port: int, fd: int | None, log_level: str, settings: Settings) -> int:
    """``sse-harness serve --workers N``: check the settings once here, then run N workers on one socket."""
    count = parse_workers(workers)
    settings.check_api_secrets()
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (or run `sse-harness demo` for an embedded Redis)")
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(message)s")
    sock = listening_socket(host, port, fd)

    def args(child_fd: int) -> list[str]:
        return python_module("sse_harness.cli", "serve", "--host", host, "--port", str(port),
                             "--log-level", log_level, "--fd", str(child_fd), "--workers", "1")

    return WorkerPool(count, args, sock, settings.sse_shutdown_grace_s).run()
