"""Many SSE clients in one test process, on the project's one async reader (``sse_client``).

``Follower`` behaves like a browser's EventSource: on a cut it reconnects after the server's ``retry:``
delay with ``Last-Event-ID`` and keeps going until the terminal status (or a 204). The followers of one
``open_many`` share one ``httpx.AsyncClient`` without keep-alive (every connect is a new TCP connection, as a
browser's reconnect after a cut is), so a thousand streams cost a thousand sockets, not a thousand pools.
``request_bytes`` and ``abort_with_reset`` are for the raw-socket clients that must misbehave below HTTP
(one that never reads, a burst of half-open connects).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx

from sse_client import Arrival, SSEStream, open_stream
from sse_contract.wire import Event

TERMINAL = ("completed", "failed")
T = TypeVar("T")
#: every connect is its own TCP connection; no read timeout (a stream may be silent between heartbeats)
CLIENT_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=0)
CONNECT_TIMEOUT = httpx.Timeout(10.0, read=None)


def stream_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(limits=CLIENT_LIMITS, timeout=CONNECT_TIMEOUT, verify=False)


@dataclass
class Received:
    """One ``event: status`` as a client got it."""

    seq: int
    status: str
    arrived: float  # time.monotonic()
    latency_s: float  # arrival (wall clock) minus the status' own timestamp
    connection: int  # which connection of this client delivered it (0 = the first)


def request_bytes(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream",
             *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def abort_with_reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST instead of a FIN (SO_LINGER 0): what a crashed client or a NAT timeout looks like."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class Follower:
    """One client following one session's stream until its terminal status, reconnecting like a browser."""

    base_url: str
    session_id: str
    token: str
    reconnect: bool = True
    received: list[Received] = field(default_factory=list)
    #: events other than ``status`` (reset, stalled): (statuses received before it, arrival, event)
    others: list[tuple[int, float, Event]] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    done: bool = False
    ended_cleanly: int = 0  # responses the server finished with the final chunk
    last_id: str | None = None
    retry_s: float = 0.1
    opened: asyncio.Event = field(default_factory=asyncio.Event)  # set on the first event of any connection
    connected_at: list[float] = field(default_factory=list)
    connect_gate: asyncio.Semaphore | None = None  # bounds concurrent connects across many followers
    changed: asyncio.Event | None = None  # set on every event received (shared by a group: see ``until``)
    ended_at: float = 0.0  # monotonic time the last connection ended
    _stream: SSEStream | None = field(default=None, repr=False)
    _current: asyncio.Future[None] | None = field(default=None, repr=False)
    _reset_requested: bool = field(default=False, repr=False)

    @property
    def ids(self) -> list[int]:
        return [r.seq for r in self.received]

    @property
    def final_status(self) -> str | None:
        return self.received[-1].status if self.received else None

    def _arrived(self, arrival: Arrival) -> None:
        item = arrival.item
        if not isinstance(item, Event):
            return
        self.opened.set()
        if self.changed is not None:
            self.changed.set()
        if item.event != "status":
            self.others.append((len(self.received), arrival.at, item))
            return
        data = json.loads(item.data)
        published = datetime.fromisoformat(data["timestamp"]).timestamp()
        self.received.append(Received(int(item.id), data["status"], arrival.at, time.time() - published,
                                      self.connections - 1))
        self.last_id = item.id
        if data["status"] in TERMINAL:
            self.done = True

    async def _connection(self, client: httpx.AsyncClient, timeout: float) -> None:
        url = f"{self.base_url}/api/v1/sessions/{self.session_id}/status/stream"
        async with contextlib.AsyncExitStack() as stack:
            async with asyncio.timeout(timeout):  # bounds the connect, up to the response headers
                gate = self.connect_gate  # held for the connect only, not for the stream
                if gate is not None:
                    await gate.acquire()
                try:
                    stream = await stack.enter_async_context(open_stream(
                        client, url, headers={"Authorization": f"Bearer {self.token}"},
                        last_event_id=self.last_id))
                finally:
                    if gate is not None:
                        gate.release()
            self.connections += 1
            self.connected_at.append(time.monotonic())
            self.codes[stream.status_code] += 1
            self._stream = stream
            try:
                if stream.status_code == 200:
                    async for arrival in stream.arrivals():
                        self._arrived(arrival)
                    self.ended_cleanly += 1
                else:
                    await stream.body()
                    if stream.status_code == 204:
                        self.done = True
                    else:
                        self.errors[f"http {stream.status_code}"] += 1
                        retry_after = stream.headers.get("retry-after", "")
                        if retry_after.isdigit():  # 429 / 503: wait as told, like a well-behaved client
                            self.retry_s = float(retry_after)
            finally:
                if stream.retry_ms is not None:
                    self.retry_s = stream.retry_ms / 1000
                self.ended_at = time.monotonic()
                self._stream = None

    async def run(self, deadline: float, *, client: httpx.AsyncClient | None = None) -> Follower:
        """Follow until done, ``deadline`` (monotonic), or — with ``reconnect=False`` — the first end."""
        async with contextlib.AsyncExitStack() as stack:
            if client is None:
                client = await stack.enter_async_context(stream_client())
            while not self.done and time.monotonic() < deadline:
                self._current = asyncio.ensure_future(
                    self._connection(client, max(0.1, deadline - time.monotonic())))
                try:
                    await self._current
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if not self._reset_requested or (task is not None and task.cancelling()):
                        raise
                    self.errors["reset"] += 1
                except (OSError, TimeoutError, httpx.HTTPError) as exc:
                    self.errors[type(exc).__name__] += 1
                finally:
                    self._reset_requested = False
                    self._current = None
                if not self.reconnect:
                    break
                if not self.done:
                    # the browser's reconnection delay, jittered as the retry: field intends
                    await asyncio.sleep(self.retry_s * random.uniform(0.5, 1.5))
        return self

    def reset(self) -> None:
        """Drop this client's connection with a TCP reset (SO_LINGER 0, then close)."""
        stream, current = self._stream, self._current
        if stream is None or current is None:
            return
        if not stream.reset_on_close():
            raise RuntimeError("the HTTP transport exposes no socket: cannot send a TCP reset")
        self._reset_requested = True
        current.cancel()


async def until(predicate: Callable[[], bool], changed: asyncio.Event) -> None:
    """Wait until ``predicate()`` holds, re-checking whenever a follower sharing ``changed`` got a status."""
    while not predicate():
        changed.clear()
        await changed.wait()


def contiguous(ids: list[int]) -> bool:
    return ids == list(range(ids[0], ids[0] + len(ids))) if ids else False


_closers: set[asyncio.Future[None]] = set()


async def _close_after(client: httpx.AsyncClient, tasks: list[asyncio.Task[Follower]]) -> None:
    try:
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await client.aclose()


async def open_many(base_url: str, targets: list[tuple[str, str]], per_target: int, *, reconnect: bool,
                    deadline: float, changed: asyncio.Event | None = None,
                    connect_limit: int = 200) -> tuple[list[Follower], list[asyncio.Task[Follower]]]:
    """``per_target`` followers on each (session id, token); returns once every one got its first event."""
    gate = asyncio.Semaphore(connect_limit)
    followers = [Follower(base_url, sid, token, reconnect=reconnect, connect_gate=gate, changed=changed)
                 for sid, token in targets for _ in range(per_target)]
    client = stream_client()
    tasks = [asyncio.create_task(f.run(deadline, client=client)) for f in followers]
    closer = asyncio.ensure_future(_close_after(client, tasks))
    _closers.add(closer)
    closer.add_done_callback(_closers.discard)
    waiting = asyncio.gather(*(f.opened.wait() for f in followers))
    try:
        async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
            await waiting
    except TimeoutError:
        opened = sum(f.opened.is_set() for f in followers)
        raise TimeoutError(f"only {opened} of {len(followers)} streams opened; "
                           f"errors {sum((f.errors for f in followers), Counter())}") from None
    return followers, tasks


class LoopThread:
    """An asyncio loop in a background thread, driven from the main thread.

    Why: ``reference_app.processes.spawn`` gives children ``PR_SET_PDEATHSIG``, which fires when the *thread*
    that started them exits. A process restarted from ``asyncio.to_thread`` would get SIGTERM as soon as
    the executor retires that thread; restarting from the main thread while the clients run here avoids it.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fault-clients", daemon=True)

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
