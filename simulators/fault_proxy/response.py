"""The proxy's side of one exchange: reading the client's request, and writing the response with the mode's
buffering, gzip and latency applied (h11 frames it; chunked for HTTP/1.1 whatever the origin did)."""

from __future__ import annotations

import asyncio
import time
import zlib
from typing import Any

import h11

from simulators.fault_proxy.modes import ProxyMode

__all__ = ["HOP_BY_HOP", "READ_SIZE", "ClientWriter", "read_request", "respond", "watch_client"]

READ_SIZE = 65536
#: Headers that describe one hop, not the message; never forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"trailer", b"upgrade",
})


class ClientWriter:
    """The response side: applies buffering, gzip and latency to what the origin sends."""

    def __init__(self, conn: h11.Connection, writer: asyncio.StreamWriter, mode: ProxyMode) -> None:
        self.conn = conn
        self.writer = writer
        self.mode = mode
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._gzip: Any = None  # zlib compressobj when compressing
        self._queue: asyncio.Queue[tuple[float, bytes | None]] | None = None
        self._delayer: asyncio.Task[None] | None = None
        if mode.latency_ms > 0:
            self._queue = asyncio.Queue()
            self._delayer = asyncio.ensure_future(self._delay_loop())

    async def start(self, response: h11.Response, gzip_body: bool) -> None:
        headers = [(n, v) for n, v in response.headers if n not in HOP_BY_HOP]
        if gzip_body:
            self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
            headers = [(n, v) for n, v in headers if n not in (b"content-length", b"content-encoding")]
            headers.append((b"content-encoding", b"gzip"))
            headers.append((b"vary", b"Accept-Encoding"))
        await self._emit(self.conn.send(h11.Response(status_code=response.status_code, headers=headers,
                                                     reason=response.reason)))

    async def data(self, chunk: bytes) -> None:
        if self._gzip is not None:
            chunk = self._gzip.compress(chunk)  # no flush: deflate keeps it until a block fills
            if not chunk:
                return
        if self.mode.buffer_until_close or self.mode.buffer_bytes:
            self._pending.append(chunk)
            self._pending_size += len(chunk)
            if self.mode.buffer_until_close or self._pending_size < self.mode.buffer_bytes:
                return
            chunk = b"".join(self._pending)
            self._pending, self._pending_size = [], 0
        await self._emit(self.conn.send(h11.Data(data=chunk)))

    async def end(self) -> None:
        tail = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        if self._gzip is not None:
            tail += self._gzip.flush()
        if tail:
            await self._emit(self.conn.send(h11.Data(data=tail)))
        await self._emit(self.conn.send(h11.EndOfMessage()))

    async def _emit(self, data: bytes) -> None:
        if self._queue is not None:
            self._queue.put_nowait((time.monotonic() + self.mode.latency_ms / 1000, data))
            return
        self.writer.write(data)
        await self.writer.drain()

    async def _delay_loop(self) -> None:
        assert self._queue is not None
        while True:
            due, data = await self._queue.get()
            if data is None:
                return
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.writer.write(data)
            await self.writer.drain()

    async def finish(self) -> None:
        """Wait until the delayed bytes of a completed response went out."""
        if self._queue is not None and self._delayer is not None:
            self._queue.put_nowait((0.0, None))
            await self._delayer

    def abort(self) -> None:
        if self._delayer is not None:
            self._delayer.cancel()


async def read_request(conn: h11.Connection, reader: asyncio.StreamReader) -> tuple[h11.Request | None, bytes]:
    """The next request and its whole body (requests here are small), or None at a clean end."""
    request: h11.Request | None = None
    body: list[bytes] = []
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(READ_SIZE)
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return request, b"".join(body)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None, b""


async def watch_client(reader: asyncio.StreamReader, conn: h11.Connection) -> None:
    """Return when the client closes its side: the origin stream must then be released too."""
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            return
        conn.receive_data(data)  # a pipelined request waits in h11 until this response ends


async def respond(conn: h11.Connection, writer: asyncio.StreamWriter, status: int, body: bytes,
                   content_type: str = "text/plain; charset=utf-8") -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    if status in (502, 503, 524):
        headers.append((b"retry-after", b"1"))
    writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
    writer.write(conn.send(h11.Data(data=body)))
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()
