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
import socket
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from reference_app.stream_registry import StreamRegistry


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
        for sock in sockets or ():  # uvicorn names no address for sockets it was handed
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
        backlog=4096,
        proxy_headers=True,
        server_header=False,
    )


def run(app: FastAPI, host: str, port: int, *, grace_s: float, log_level: str = "info",
        fd: int | None = None, send_timeout_s: float | None = None,
        sockets: list[socket.socket] | None = None) -> None:
    """Serve until SIGTERM/SIGINT: on ``sockets`` (already listening, e.g. bound by the command line so a
    port in use is refused before start-up), else on ``fd``, else on ``host:port``."""
    server = GracefulServer(make_config(app, host, port, grace_s=grace_s, log_level=log_level, fd=fd))
    server.send_timeout_s = send_timeout_s
    server.run(sockets=sockets or None)
