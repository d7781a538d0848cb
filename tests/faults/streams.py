"""Many SSE clients in one test process: raw asyncio sockets, httptools for HTTP framing, the project's
``SSEDecoder`` for the events.

A thousand ``httpx`` clients would cost a thread or a connection pool each; here one stream is one socket,
one parser and a few lists, so 1,000 (or 10,000 under ``-m heavy``) fit in the test process next to the
server. ``Follower`` behaves like a browser's EventSource: on a cut it reconnects after the server's
``retry:`` delay with ``Last-Event-ID`` and keeps going until the terminal status (or a 204).
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
from urllib.parse import urlsplit

import httptools

from sse_contract.wire import Event, SSEDecoder

TERMINAL = ("completed", "failed")
T = TypeVar("T")


@dataclass
class Received:
    """One ``event: status`` as a client got it."""

    seq: int
    status: str
    arrived: float  # time.monotonic()
    latency_s: float  # arrival (wall clock) minus the status' own timestamp
    connection: int  # which connection of this client delivered it (0 = the first)


class _Response:
    """httptools callbacks for one HTTP response; body bytes go straight into the SSE decoder."""

    def __init__(self, on_items: Callable[[list[Any]], None]) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.decoder = SSEDecoder()
        self.on_items = on_items
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.headers_done = asyncio.Event()
        self.complete = False
        self.body = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done.set()

    def on_body(self, body: bytes) -> None:
        if self.status == 200:
            self.on_items(self.decoder.feed(body))
        else:
            self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


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
    writer: asyncio.StreamWriter | None = None
    connected_at: list[float] = field(default_factory=list)
    connect_gate: asyncio.Semaphore | None = None  # bounds concurrent connects across many followers
    changed: asyncio.Event | None = None  # set on every event received (shared by a group: see ``until``)
    ended_at: float = 0.0  # monotonic time the last connection ended

    @property
    def ids(self) -> list[int]:
        return [r.seq for r in self.received]

    @property
    def final_status(self) -> str | None:
        return self.received[-1].status if self.received else None

    def _items(self, items: list[Any]) -> None:
        now_mono, now_wall = time.monotonic(), time.time()
        for item in items:
            if not isinstance(item, Event):
                continue
            self.opened.set()
            if self.changed is not None:
                self.changed.set()
            if item.event != "status":
                self.others.append((len(self.received), now_mono, item))
                continue
            data = json.loads(item.data)
            published = datetime.fromisoformat(data["timestamp"]).timestamp()
            self.received.append(Received(int(item.id), data["status"], now_mono, now_wall - published,
                                          self.connections - 1))
            self.last_id = item.id
            if data["status"] in TERMINAL:
                self.done = True

    async def _connection(self, timeout: float, rcvbuf: int | None) -> None:
        url = urlsplit(self.base_url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            async with contextlib.AsyncExitStack() as stack, asyncio.timeout(timeout):
                if self.connect_gate is not None:
                    await stack.enter_async_context(self.connect_gate)
                await asyncio.get_running_loop().sock_connect(sock, (host, port))
                reader, writer = await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise
        self.writer = writer
        self.connections += 1
        self.connected_at.append(time.monotonic())
        response = _Response(self._items)
        try:
            writer.write(request_bytes(host, port, f"/api/v1/sessions/{self.session_id}/status/stream", headers))
            while not response.complete:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                response.parser.feed_data(chunk)
            if response.status is not None:
                self.codes[response.status] += 1
            if response.status == 204:
                self.done = True
            elif response.status == 200 and response.complete:
                self.ended_cleanly += 1
            elif response.status != 200 and response.status is not None:
                self.errors[f"http {response.status}"] += 1
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():  # 429 / 503: wait as told, like a well-behaved client
                    self.retry_s = float(retry_after)
            if response.decoder.retry_ms is not None:
                self.retry_s = response.decoder.retry_ms / 1000
        finally:
            self.ended_at = time.monotonic()
            self.writer = None
            writer.close()

    async def run(self, deadline: float, *, rcvbuf: int | None = None) -> Follower:
        """Follow until done, ``deadline`` (monotonic), or — with ``reconnect=False`` — the first end."""
        while not self.done and time.monotonic() < deadline:
            try:
                await self._connection(max(0.1, deadline - time.monotonic()), rcvbuf)
            except (OSError, TimeoutError, httptools.HttpParserError) as exc:
                self.errors[type(exc).__name__] += 1
            if not self.reconnect:
                break
            if not self.done:
                # the browser's reconnection delay, jittered as the retry: field intends
                await asyncio.sleep(self.retry_s * random.uniform(0.5, 1.5))
        return self

    def reset(self) -> None:
        """Drop this client's connection with a TCP reset."""
        if self.writer is not None:
            abort_with_reset(self.writer)


async def until(predicate: Callable[[], bool], changed: asyncio.Event) -> None:
    """Wait until ``predicate()`` holds, re-checking whenever a follower sharing ``changed`` got a status."""
    while not predicate():
        changed.clear()
        await changed.wait()


def contiguous(ids: list[int]) -> bool:
    return ids == list(range(ids[0], ids[0] + len(ids))) if ids else False


async def open_many(base_url: str, targets: list[tuple[str, str]], per_target: int, *, reconnect: bool,
                    deadline: float, changed: asyncio.Event | None = None,
                    connect_limit: int = 200) -> tuple[list[Follower], list[asyncio.Task[Follower]]]:
    """``per_target`` followers on each (session id, token); returns once every one got its first event."""
    gate = asyncio.Semaphore(connect_limit)
    followers = [Follower(base_url, sid, token, reconnect=reconnect, connect_gate=gate, changed=changed)
                 for sid, token in targets for _ in range(per_target)]
    tasks = [asyncio.create_task(f.run(deadline)) for f in followers]
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
