"""A fault-injecting HTTP/1.1 reverse proxy: what CDNs and load balancers do to SSE streams, on demand.

Real intermediaries break event streams in a handful of ways: they buffer the body (nginx
``proxy_buffering``), compress it (gzip holds events until a deflate block fills), cut a stream after a
silence (Cloudflare: 100 s between two reads from the origin, then HTTP 524), cut long connections,
refuse some connections, add latency, or answer 502/503 while the origin restarts. This proxy does each
of these on purpose, switchable at runtime, so the checker's tests (tests/conformance) and the browser
tests (e2e: a 503 that makes EventSource give up, streams cut mid-body) can see how clients and checks
react — without a CDN account. It also keeps a log of the requests it saw (``seen()``), so a test can count
what a browser really sent.

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
        proxy.cut_all(STREAM_PATH)               # cut the open streams only

The mode is read when a request starts, so a change applies to the next request; ``cut_all()`` ends the
connections already open (e.g. to force the switch for a stream that is still running). The mode can
also be read and changed over HTTP on the proxy itself: ``GET``/``PUT /__fault-proxy/mode`` (PUT body: a
JSON list of specs, e.g. ``["status=503"]``; ``[]`` = pass-through).

HTTP parsing and framing are h11's; the proxy re-frames the response for its client (chunked for
HTTP/1.1), so buffering and gzip do not have to care how the origin framed its body.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import h11

from simulators.fault_proxy.modes import ProxyMode
from simulators.fault_proxy.response import HOP_BY_HOP, READ_SIZE, ClientWriter, read_request, respond, watch_client
from sse_client import Origin

__all__ = ["CONTROL_PATH", "FaultProxy", "ProxyStats", "SeenRequest"]

CONTROL_PATH = "/__fault-proxy/mode"
#: What Cloudflare answers when the origin was silent for too long before sending anything.
CLOUDFLARE_524 = b"error code: 524"


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
class SeenRequest:
    """One request as the proxy got it, and the status it answered (None until known, or never sent)."""

    method: str
    path: str  # the request target as sent, with its query
    headers: dict[str, str]
    status: int | None = None


class FaultProxy:
    """The proxy. ``start()`` binds (port 0 = any free port); ``url`` is where clients connect."""

    def __init__(self, upstream: str, mode: ProxyMode | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, control: bool = True) -> None:
        self.upstream = Origin.parse(upstream, what="upstream")
        self.host_header = self.upstream.host_header.encode("ascii")
        self._mode = mode or ProxyMode()
        self.host = host
        self.port = port
        self.control = control
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._paths: dict[asyncio.Task[None], str] = {}  # the path each connection is serving now
        self._seen: list[SeenRequest] = []
        self._seen_lock = threading.Lock()
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

    def seen(self, path: str | None = None) -> list[SeenRequest]:
        """The requests so far (not those to the control endpoint), oldest first; with ``path`` only those
        whose path matches that regular expression. Thread-safe."""
        with self._seen_lock:
            seen = list(self._seen)
        if path is None:
            return seen
        pattern = re.compile(path)
        return [r for r in seen if pattern.search(r.path.split("?", 1)[0])]

    async def cut_all(self, path: str | None = None) -> int:
        """Abort every open client connection now — with ``path``, only those serving a request whose path
        matches that regular expression (e.g. ``STREAM_PATH``); returns how many were cut."""
        pattern = re.compile(path) if path is not None else None
        tasks = [t for t in self._handlers if not t.done()
                 and (pattern is None or pattern.search(self._paths.get(t, "")))]
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
            self._paths.pop(task, None)
            writer.transport.abort()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            request, body = await read_request(conn, reader)
            if request is None:
                return
            self.stats.requests += 1
            mode = self._mode
            target = request.target.decode("latin-1")
            path = target.split("?", 1)[0]
            if self.control and path == CONTROL_PATH:
                await self._control(conn, writer, request, body)
            else:
                await self._answer(conn, reader, writer, request, body, mode, path)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _answer(self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      request: h11.Request, body: bytes, mode: ProxyMode, path: str) -> None:
        """Inject the error the mode asks for on this path, or proxy the request; logged either way."""
        seen = self._record(request, request.target.decode("latin-1"))
        task = asyncio.current_task()
        if task is not None:
            self._paths[task] = path
        if mode.error_status is not None and re.search(mode.error_path, path):
            self.stats.errors_injected += 1
            seen.status = mode.error_status
            await respond(conn, writer, mode.error_status,
                           f"error code: {mode.error_status} (injected by fault proxy)\n".encode())
        else:
            await self._proxy(conn, reader, writer, request, body, mode, seen)

    def _record(self, request: h11.Request, target: str) -> SeenRequest:
        headers = {n.decode("latin-1"): v.decode("latin-1") for n, v in request.headers}
        seen = SeenRequest(request.method.decode("latin-1"), target, headers)
        with self._seen_lock:
            self._seen.append(seen)
        return seen

    async def _control(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                       request: h11.Request, body: bytes) -> None:
        if request.method == b"PUT":
            try:
                specs = json.loads(body or b"[]")
                if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
                    raise ValueError('the body must be a JSON list of mode specs, e.g. ["status=503"]')
                self.set_mode(ProxyMode.parse(specs))
            except ValueError as exc:
                await respond(conn, writer, 400, json.dumps({"detail": str(exc)}).encode(), "application/json")
                return
        elif request.method != b"GET":
            await respond(conn, writer, 405, b'{"detail": "use GET or PUT"}', "application/json")
            return
        payload = {"mode": self._mode.specs(), "description": self._mode.describe(),
                   "stats": self.stats.as_dict()}
        await respond(conn, writer, 200, json.dumps(payload).encode(), "application/json")

    async def _proxy(self, conn: h11.Connection, client_reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, request: h11.Request, body: bytes, mode: ProxyMode,
                     seen: SeenRequest) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream.host, self.upstream.port, ssl=self._ssl,
                server_hostname=self.upstream.host if self._ssl else None, limit=READ_SIZE)
        except OSError as exc:
            self.stats.upstream_errors += 1
            seen.status = 502
            await respond(conn, writer, 502, f"bad gateway: cannot reach the origin ({exc})\n".encode())
            return
        out = ClientWriter(conn, writer, mode)
        watcher = asyncio.ensure_future(watch_client(client_reader, conn))
        pump = asyncio.ensure_future(self._pump(conn, request, body, mode, up_reader, up_writer, out, seen))
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
                    out: ClientWriter, seen: SeenRequest) -> None:
        upstream = h11.Connection(h11.CLIENT)
        headers = [(b"host", self.host_header)]
        headers += [(name, value) for name, value in request.headers
                    if name not in HOP_BY_HOP and name not in (b"host", b"content-length")]
        if body:
            headers.append((b"content-length", str(len(body)).encode()))
        target = self.upstream.prefix.encode() + request.target
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
                        seen.status = 524
                        await respond(conn, out.writer, 524, CLOUDFLARE_524)
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
                    seen.status = event.status_code
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
