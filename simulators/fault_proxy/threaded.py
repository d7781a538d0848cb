"""Driving a ``FaultProxy`` from synchronous code (a thread with its own loop) and the ``sse-harness proxy``
entry point."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from simulators.fault_proxy.modes import ProxyMode
from simulators.fault_proxy.proxy import CONTROL_PATH, FaultProxy, ProxyStats, SeenRequest
from sse_client import Origin

__all__ = ["ThreadedProxy", "main", "run_in_thread", "running", "serve"]


class ThreadedProxy:
    """A ``FaultProxy`` running on its own event loop in a daemon thread, driven from synchronous code."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def mode(self) -> ProxyMode:
        return self.proxy.mode

    @property
    def stats(self) -> ProxyStats:
        return self.proxy.stats

    def set_mode(self, mode: ProxyMode | None = None, /, **changes: Any) -> ProxyMode:
        return self.proxy.set_mode(mode, **changes)

    def reset(self) -> None:
        self.proxy.reset()

    def cut_all(self, path: str | None = None, timeout: float = 10.0) -> int:
        return asyncio.run_coroutine_threadsafe(self.proxy.cut_all(path), self._loop).result(timeout)

    def seen(self, path: str | None = None) -> list[SeenRequest]:
        return self.proxy.seen(path)

    def start(self, timeout: float = 10.0) -> ThreadedProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop.close()


@contextlib.contextmanager
def run_in_thread(upstream: str, mode: ProxyMode | None = None, *, host: str = "127.0.0.1",
                  port: int = 0) -> Iterator[ThreadedProxy]:
    """Start a proxy in front of ``upstream`` on a free port; stop it (cutting its connections) on exit."""
    proxy = ThreadedProxy(FaultProxy(upstream, mode, host=host, port=port)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@contextlib.asynccontextmanager
async def running(upstream: str, mode: ProxyMode | None = None, **kwargs: Any) -> AsyncIterator[FaultProxy]:
    """``async with running(url) as proxy`` — the same as ``async with FaultProxy(url)``."""
    async with FaultProxy(upstream, mode, **kwargs) as proxy:
        yield proxy


async def serve(upstream: str, mode: ProxyMode, host: str, port: int,
                on_ready: Any = None) -> None:
    """Run until cancelled (the CLI). ``on_ready(proxy)`` is called once listening."""
    async with FaultProxy(upstream, mode, host=host, port=port) as proxy:
        if on_ready is not None:
            on_ready(proxy)
        await proxy.serve_forever()


def main(upstream: str, specs: Iterable[str], host: str = "127.0.0.1", port: int = 8080) -> int:
    """``sse-harness proxy``: run in the foreground until Ctrl-C. Bad input is a message, not a traceback."""
    try:
        mode = ProxyMode.parse(specs)
        Origin.parse(upstream, what="upstream")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def ready(proxy: FaultProxy) -> None:
        print(f"Proxy: {proxy.url} -> {upstream} [{mode.describe()}]", flush=True)
        print(f"Change the mode at runtime: curl -X PUT {proxy.url}{CONTROL_PATH} -d '[\"status=503\"]'",
              flush=True)

    try:
        asyncio.run(serve(upstream, mode, host, port, on_ready=ready))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
