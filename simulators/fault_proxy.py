"""A fault-injecting HTTP/1.1 reverse proxy: what CDNs and load balancers do to SSE streams, on demand.

Real intermediaries break event streams in a handful of ways: they buffer the body (nginx
``proxy_buffering``), compress it (gzip holds events until a deflate block fills), cut a stream after a
silence (Cloudflare: 100 s between two reads from the origin, then HTTP 524), cut long connections,
refuse some connections, add latency, or answer 502/503 while the origin restarts. This proxy does each
of these on purpose, switchable at runtime, so the checker, the e2e tests and the fault tests can see how
clients and checks react — without a CDN account.

Library use (asyncio)::

    async with FaultProxy("http://127.0.0.1:8000") as proxy:      # listens on 127.0.0.1, a free port
        proxy.set_mode(error_status=503)                           # stream path answers 503
        ...
        proxy.set_mode(ProxyMode())                                # back to pass-through
        proxy.set_mode(ProxyMode.parse(["gzip", "latency=50"]))    # specs, as on the command line

From synchronous code (pytest, Playwright sync API) use ``run_in_thread`` — same object, own event loop::

    with run_in_thread("http://127.0.0.1:8000", ProxyMode(error_status=503)) as proxy:
        page.goto(proxy.url + "/sessions/...")
        proxy.set_mode(error_status=None)        # thread-safe: the next request passes through

The mode is read when a request starts, so a change applies to the next request; ``cut_all()`` ends the
connections already open (e.g. to force the switch for a stream that is still running). The mode can
also be read and changed over HTTP on the proxy itself: ``GET``/``PUT /__fault-proxy/mode`` (PUT body: a
JSON list of specs, e.g. ``["status=503"]``; ``[]`` = pass-through).

HTTP parsing and framing are h11's; the proxy re-frames the response for its client (chunked for
HTTP/1.1), so buffering and gzip do not have to care how the origin framed its body.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import ssl
import sys
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import h11

__all__ = [
    "CONTROL_PATH",
    "FaultProxy",
    "ProxyMode",
    "ProxyStats",
    "ThreadedProxy",
    "run_in_thread",
]

CONTROL_PATH = "/__fault-proxy/mode"
READ_SIZE = 65536
#: Headers that describe one hop, not the message; never forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"trailer", b"upgrade",
})
#: The stream endpoint of docs/contract.md: where ``status=...`` injects its error by default.
DEFAULT_ERROR_PATH = r"/status/stream"
#: What Cloudflare answers when the origin was silent for too long before sending anything.
CLOUDFLARE_524 = b"error code: 524"


@dataclass(frozen=True, slots=True)
class ProxyMode:
    """Which faults are on. The default is a clean pass-through; fields combine freely."""

    #: hold the whole response body until the origin ends it (nginx ``proxy_buffering`` on a short stream)
    buffer_until_close: bool = False
    #: hold the body until this many bytes are pending, then flush them (a proxy buffer filling up)
    buffer_bytes: int = 0
    #: gzip the body without flushing (what nginx ``gzip on`` does to text/event-stream)
    gzip: bool = False
    #: cut after this many seconds without a byte from the origin: 524 before the headers, else a cut
    idle_timeout_s: float | None = None
    #: close every client connection this many seconds after it was accepted
    kill_after_s: float | None = None
    #: close every Nth accepted connection at once, without an answer
    drop_every: int = 0
    #: delay every byte from the origin by this much (added to time-to-headers and to every event)
    latency_ms: float = 0.0
    #: answer this status (502, 503, ...) instead of proxying, for paths matching ``error_path``
    error_status: int | None = None
    error_path: str = DEFAULT_ERROR_PATH

    def __post_init__(self) -> None:
        if self.buffer_bytes < 0:
            raise ValueError(f"buffer_bytes must be >= 0, got {self.buffer_bytes}")
        for name in ("idle_timeout_s", "kill_after_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.drop_every < 0:
            raise ValueError(f"drop_every must be >= 0, got {self.drop_every}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if self.error_status is not None and not 400 <= self.error_status <= 599:
            raise ValueError(f"error_status must be a 4xx or 5xx code, got {self.error_status}")
        try:
            re.compile(self.error_path)
        except re.error as exc:
            raise ValueError(f"error_path is not a valid regular expression: {exc}") from None

    @property
    def passthrough(self) -> bool:
        return self == ProxyMode(error_path=self.error_path)

    # -- specs: the command line / control endpoint vocabulary -------------------------------------------

    @classmethod
    def parse(cls, specs: Iterable[str]) -> ProxyMode:
        """Build a mode from specs like ``gzip``, ``buffer-bytes=4096``, ``idle-timeout=100``, ``status=503``.

        Raises ``ValueError`` naming the bad spec and listing the known ones.
        """
        changes: dict[str, Any] = {}
        for raw in specs:
            spec = raw.strip()
            if not spec:
                continue
            name, has_value, value = spec.partition("=")
            name = name.strip().lower().replace("_", "-")
            if name not in _SPECS:
                raise ValueError(f"unknown proxy mode {name!r}; known: {', '.join(sorted(_SPECS))}")
            field_name, convert, needs_value = _SPECS[name]
            if needs_value and not has_value:
                raise ValueError(f"proxy mode {name!r} needs a value, e.g. {name}={_EXAMPLES[name]}")
            if not needs_value and has_value:
                raise ValueError(f"proxy mode {name!r} takes no value")
            if field_name is None:  # "pass": explicitly nothing
                continue
            try:
                changes[field_name] = convert(value.strip()) if needs_value else True
            except ValueError:
                raise ValueError(f"bad value for proxy mode {name!r}: {value!r} "
                                 f"(e.g. {name}={_EXAMPLES[name]})") from None
        return cls(**changes)

    def specs(self) -> list[str]:
        """The inverse of ``parse``: what is switched on, as specs (``[]`` for pass-through)."""
        out: list[str] = []
        if self.buffer_until_close:
            out.append("buffer")
        if self.buffer_bytes:
            out.append(f"buffer-bytes={self.buffer_bytes}")
        if self.gzip:
            out.append("gzip")
        if self.idle_timeout_s is not None:
            out.append(f"idle-timeout={self.idle_timeout_s:g}")
        if self.kill_after_s is not None:
            out.append(f"kill-after={self.kill_after_s:g}")
        if self.drop_every:
            out.append(f"drop-every={self.drop_every}")
        if self.latency_ms:
            out.append(f"latency={self.latency_ms:g}")
        if self.error_status is not None:
            out.append(f"status={self.error_status}")
        if self.error_path != DEFAULT_ERROR_PATH:
            out.append(f"error-path={self.error_path}")
        return out

    def describe(self) -> str:
        return ", ".join(self.specs()) or "pass-through"


#: spec name -> (ProxyMode field, converter of the value, whether a value is required)
_SPECS: dict[str, tuple[str | None, Any, bool]] = {
    "pass": (None, None, False),
    "pass-through": (None, None, False),
    "buffer": ("buffer_until_close", None, False),
    "buffer-until-close": ("buffer_until_close", None, False),
    "buffer-bytes": ("buffer_bytes", int, True),
    "gzip": ("gzip", None, False),
    "idle-timeout": ("idle_timeout_s", float, True),
    "kill-after": ("kill_after_s", float, True),
    "drop-every": ("drop_every", int, True),
    "latency": ("latency_ms", float, True),
    "status": ("error_status", int, True),
    "error-path": ("error_path", str, True),
}
_EXAMPLES = {"buffer-bytes": "4096", "idle-timeout": "100", "kill-after": "30", "drop-every": "3",
             "latency": "200", "status": "503", "error-path": "/status/stream"}


@dataclass
class ProxyStats:
    """Counters, so tests can assert that a fault really happened (not just that a client failed)."""

    connections: int = 0
    requests: int = 0
    dropped: int = 0            # drop-every
    errors_injected: int = 0    # status=...
    timeouts_524: int = 0       # idle timeout before the headers
    cut_idle: int = 0           # idle timeout after the headers
    cut_killed: int = 0         # kill-after and cut_all()
    upstream_errors: int = 0    # the origin refused or broke the response (answered 502 or cut)
    open_connections: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class _Cut(Exception):
    """The proxy decided to end this client connection abruptly."""


class _UpstreamGone(Exception):
    """The origin closed or broke the connection mid-response."""


@dataclass
class _Upstream:
    scheme: str
    host: str
    port: int
    base_path: str
    host_header: bytes = field(init=False)

    def __post_init__(self) -> None:
        default = 443 if self.scheme == "https" else 80
        netloc = self.host if self.port == default else f"{self.host}:{self.port}"
        self.host_header = netloc.encode("ascii")

    @classmethod
    def from_url(cls, url: str) -> _Upstream:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http:// or https:// URL, got {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))


class FaultProxy:
    """The proxy. ``start()`` binds (port 0 = any free port); ``url`` is where clients connect."""

    def __init__(self, upstream: str, mode: ProxyMode | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, control: bool = True) -> None:
        self.upstream = _Upstream.from_url(upstream)
        self._mode = mode or ProxyMode()
        self.host = host
        self.port = port
        self.control = control
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._ssl = ssl.create_default_context() if self.upstream.scheme == "https" else None

    # -- runtime API --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def mode(self) -> ProxyMode:
        return self._mode

    def set_mode(self, mode: ProxyMode | None = None, /, **changes: Any) -> ProxyMode:
        """Replace the mode (``set_mode(ProxyMode(gzip=True))``) or change fields of the current one
        (``set_mode(error_status=None)``). Atomic and thread-safe: it swaps one immutable object."""
        base = mode if mode is not None else self._mode
        new = dataclasses.replace(base, **changes) if changes else base
        self._mode = new
        return new

    def reset(self) -> None:
        """Back to pass-through."""
        self._mode = ProxyMode()

    async def cut_all(self) -> int:
        """Abort every open client connection now; returns how many were cut."""
        tasks = [t for t in self._handlers if not t.done()]
        for task in tasks:
            task.cancel(msg="cut")
        self.stats.cut_killed += len(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, limit=READ_SIZE)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in self._handlers if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        assert self._server is not None, "call start() first"
        await self._server.serve_forever()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- connection handling ------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.stats.connections += 1
        self.stats.open_connections += 1
        number = self.stats.connections
        mode = self._mode
        try:
            if mode.drop_every and number % mode.drop_every == 0:
                self.stats.dropped += 1
                return
            if mode.kill_after_s is not None:
                try:
                    async with asyncio.timeout(mode.kill_after_s):
                        await self._serve_connection(reader, writer)
                except TimeoutError:
                    self.stats.cut_killed += 1
            else:
                await self._serve_connection(reader, writer)
        except (_Cut, _UpstreamGone, ConnectionError, h11.ProtocolError):
            pass
        except asyncio.CancelledError:
            pass  # stop() or cut_all(): close below, abruptly
        finally:
            self.stats.open_connections -= 1
            self._handlers.discard(task)
            writer.transport.abort()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            request, body = await _read_request(conn, reader)
            if request is None:
                return
            self.stats.requests += 1
            mode = self._mode
            target = request.target.decode("latin-1")
            path = target.split("?", 1)[0]
            if self.control and path == CONTROL_PATH:
                await self._control(conn, writer, request, body)
            elif mode.error_status is not None and re.search(mode.error_path, path):
                self.stats.errors_injected += 1
                await _respond(conn, writer, mode.error_status,
                               f"error code: {mode.error_status} (injected by fault proxy)\n".encode())
            else:
                await self._proxy(conn, reader, writer, request, body, mode)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _control(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                       request: h11.Request, body: bytes) -> None:
        if request.method == b"PUT":
            try:
                specs = json.loads(body or b"[]")
                if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
                    raise ValueError('the body must be a JSON list of mode specs, e.g. ["status=503"]')
                self.set_mode(ProxyMode.parse(specs))
            except ValueError as exc:
                await _respond(conn, writer, 400, json.dumps({"detail": str(exc)}).encode(), "application/json")
                return
        elif request.method != b"GET":
            await _respond(conn, writer, 405, b'{"detail": "use GET or PUT"}', "application/json")
            return
        payload = {"mode": self._mode.specs(), "description": self._mode.describe(),
                   "stats": self.stats.as_dict()}
        await _respond(conn, writer, 200, json.dumps(payload).encode(), "application/json")

    async def _proxy(self, conn: h11.Connection, client_reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, request: h11.Request, body: bytes, mode: ProxyMode) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream.host, self.upstream.port, ssl=self._ssl,
                server_hostname=self.upstream.host if self._ssl else None, limit=READ_SIZE)
        except OSError as exc:
            self.stats.upstream_errors += 1
            await _respond(conn, writer, 502, f"bad gateway: cannot reach the origin ({exc})\n".encode())
            return
        out = _ClientWriter(conn, writer, mode)
        watcher = asyncio.ensure_future(_watch_client(client_reader, conn))
        pump = asyncio.ensure_future(self._pump(conn, request, body, mode, up_reader, up_writer, out))
        try:
            done, _ = await asyncio.wait({watcher, pump}, return_when=asyncio.FIRST_COMPLETED)
            if pump not in done:
                raise _Cut("client went away")
            pump.result()
            await out.finish()
        finally:
            for task in (watcher, pump):
                task.cancel()
            await asyncio.gather(watcher, pump, return_exceptions=True)
            up_writer.transport.abort()
            out.abort()

    async def _pump(self, conn: h11.Connection, request: h11.Request, body: bytes, mode: ProxyMode,
                    up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter,
                    out: _ClientWriter) -> None:
        upstream = h11.Connection(h11.CLIENT)
        headers = [(b"host", self.upstream.host_header)]
        headers += [(name, value) for name, value in request.headers
                    if name not in HOP_BY_HOP and name not in (b"host", b"content-length")]
        if body:
            headers.append((b"content-length", str(len(body)).encode()))
        target = self.upstream.base_path.encode() + request.target
        up_writer.write(upstream.send(h11.Request(method=request.method, target=target, headers=headers)))
        if body:
            up_writer.write(upstream.send(h11.Data(data=body)))
        up_writer.write(upstream.send(h11.EndOfMessage()))
        await up_writer.drain()

        accept_gzip = b"gzip" in b",".join(v for n, v in request.headers if n == b"accept-encoding").lower()
        started = False
        while True:
            event = upstream.next_event()
            if event is h11.NEED_DATA:
                try:
                    if mode.idle_timeout_s is None:
                        data = await up_reader.read(READ_SIZE)
                    else:
                        async with asyncio.timeout(mode.idle_timeout_s):
                            data = await up_reader.read(READ_SIZE)
                except TimeoutError:
                    if not started:
                        self.stats.timeouts_524 += 1
                        await _respond(conn, out.writer, 524, CLOUDFLARE_524)
                        return
                    self.stats.cut_idle += 1
                    raise _Cut(f"no byte from the origin for {mode.idle_timeout_s}s") from None
                except OSError as exc:
                    self.stats.upstream_errors += 1
                    raise _UpstreamGone(str(exc)) from None
                try:
                    upstream.receive_data(data)
                except h11.RemoteProtocolError:
                    self.stats.upstream_errors += 1
                    raise _UpstreamGone("origin broke the HTTP framing") from None
                continue
            try:
                if isinstance(event, h11.InformationalResponse):
                    continue
                if isinstance(event, h11.Response):
                    started = True
                    already_encoded = any(n == b"content-encoding" for n, _ in event.headers)
                    await out.start(event, gzip_body=mode.gzip and accept_gzip and not already_encoded
                                    and event.status_code not in (204, 304) and request.method != b"HEAD")
                elif isinstance(event, h11.Data):
                    await out.data(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    await out.end()
                    return
                elif isinstance(event, h11.ConnectionClosed):
                    self.stats.upstream_errors += 1
                    raise _UpstreamGone("origin closed the connection before the response ended")
            except h11.RemoteProtocolError:
                self.stats.upstream_errors += 1
                raise _UpstreamGone("origin broke the HTTP framing") from None


class _ClientWriter:
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


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader) -> tuple[h11.Request | None, bytes]:
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


async def _watch_client(reader: asyncio.StreamReader, conn: h11.Connection) -> None:
    """Return when the client closes its side: the origin stream must then be released too."""
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            return
        conn.receive_data(data)  # a pipelined request waits in h11 until this response ends


async def _respond(conn: h11.Connection, writer: asyncio.StreamWriter, status: int, body: bytes,
                   content_type: str = "text/plain; charset=utf-8") -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    if status in (502, 503, 524):
        headers.append((b"retry-after", b"1"))
    writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
    writer.write(conn.send(h11.Data(data=body)))
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()


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

    def cut_all(self, timeout: float = 10.0) -> int:
        return asyncio.run_coroutine_threadsafe(self.proxy.cut_all(), self._loop).result(timeout)

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
        _Upstream.from_url(upstream)
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
