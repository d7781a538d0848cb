"""A tiny HTTP/1.1 pass-through proxy for the e2e suite that can break the SSE stream path on demand.

Why not a CDN or nginx: the tests need two faults a real proxy produces and must be able to switch them
during a running job: (1) answering the stream path with ``503`` (what a CDN does when the origin is
unhealthy; a 503 makes a browser EventSource give up for good, readyState CLOSED) and (2) cutting open
streams mid-body (a dropped connection; the browser then retries by itself). Everything else is piped
byte for byte. Every request is forced to ``Connection: close`` so each one arrives on its own connection
and is seen (and counted) here.

Runs its own asyncio loop in a daemon thread; ``StreamGate(upstream).start()`` / ``.stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

STREAM_SUFFIX = "/status/stream"
HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    status: int | None

    @property
    def is_stream(self) -> bool:
        return urlsplit(self.path).path.endswith(STREAM_SUFFIX)


@dataclass
class StreamGate:
    upstream: str
    fail_streams: bool = False
    requests: list[SeenRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    _open_streams: set[asyncio.StreamWriter] = field(default_factory=set)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control (called from the test thread) -------------------------------------------------------

    def start(self) -> StreamGate:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, limit=HEAD_LIMIT))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="stream-gate", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("stream gate did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._open_streams):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        loop.close()
        self._loop = None

    def cut_streams(self) -> int:
        """Drop every open stream connection mid-body (TCP reset); returns how many were cut."""
        assert self._loop is not None

        async def cut() -> int:
            writers = list(self._open_streams)
            for writer in writers:
                writer.transport.abort()
            return len(writers)

        return asyncio.run_coroutine_threadsafe(cut(), self._loop).result(10)

    def seen(self) -> list[SeenRequest]:
        with self._lock:
            return list(self.requests)

    def stream_requests(self) -> list[SeenRequest]:
        return [r for r in self.seen() if r.is_stream]

    def __enter__(self) -> StreamGate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the proxy (runs on the gate's loop) ----------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        kept: list[str] = []
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
            if name.strip().lower() not in ("connection", "keep-alive"):
                kept.append(line)
        is_stream = urlsplit(path).path.endswith(STREAM_SUFFIX)
        if is_stream and self.fail_streams:
            self._record(SeenRequest(method, path, headers, 503))
            body = b'{"detail":"stream gate: upstream unavailable"}'
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                         b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        target = urlsplit(self.upstream)
        try:
            up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        except OSError:
            self._record(SeenRequest(method, path, headers, 502))
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            writer.close()
            return
        up_writer.write("\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1"))
        if is_stream:
            self._open_streams.add(writer)
        try:
            first = await up_reader.read(65536)
            status = int(first.split(b" ", 2)[1]) if first.startswith(b"HTTP/") else None
            self._record(SeenRequest(method, path, headers, status))
            writer.write(first)
            # The request body (if any) flows up while the response flows down; the response's end
            # (upstream closes: Connection: close) ends the exchange.
            upload = asyncio.ensure_future(_pipe(reader, up_writer))
            try:
                await _pipe(up_reader, writer)
            finally:
                upload.cancel()
                await asyncio.gather(upload, return_exceptions=True)
        except (ConnectionError, ValueError, IndexError):
            pass
        finally:
            self._open_streams.discard(writer)
            writer.close()
            up_writer.close()

    def _record(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
