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
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httptools

from reference_app.sse import Event, SSEDecoder

TERMINAL = ("completed", "failed")


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
    others: list[tuple[int, Event]] = field(default_factory=list)  # (statuses received before it, reset/...)
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
    changed: asyncio.Event | None = None  # set on every status received (shared by a group: see ``until``)

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
            if item.event != "status":
                self.others.append((len(self.received), item))
                continue
            data = json.loads(item.data)
            published = datetime.fromisoformat(data["timestamp"]).timestamp()
            self.received.append(Received(int(item.id), data["status"], now_mono, now_wall - published,
                                          self.connections - 1))
            self.last_id = item.id
            if data["status"] in TERMINAL:
                self.done = True
            if self.changed is not None:
                self.changed.set()

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
            if response.decoder.retry_ms is not None:
                self.retry_s = response.decoder.retry_ms / 1000
        finally:
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


async def gather_bounded(jobs: Iterable[Awaitable[Any]], limit: int) -> list[Any]:
    """Await many coroutines with at most ``limit`` in flight (connect storms overflow accept queues)."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[Any]) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
