"""Two ways for a gevent process to hold an SSE response open: raw sockets, or Locust's FastHttpSession.

``RawConnection`` is a gevent socket plus llhttp's C parser (``httptools``, which uvicorn uses too) for
status, headers and chunked framing: per stream it costs one socket, one parser and a few small objects,
and ``read`` returns whatever bytes arrived, so an event is handed on the moment it lands.

``FastHttpConnection`` goes through ``FastHttpSession`` (geventhttpclient). Its public streaming API,
``response.stream.read(n)`` / ``iter_content(n)``, loops until ``n`` bytes have arrived — an SSE event
smaller than ``n`` would wait for the next ones — so this adapter reads the response's own socket and
parser directly. It exists to measure the two side by side (docs/load-testing.md has the numbers); the
raw transport is the default.

Both only work inside a gevent-patched process (Locust, or ``loadtests.bench_client``).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from typing import Any, Protocol

import httptools

from sse_client import Origin

__all__ = [
    "ConnectFailed",
    "Connection",
    "FastHttpConnection",
    "RawConnection",
    "Target",
]

RECV_SIZE = 16384
MAX_HEADER_BYTES = 64 * 1024


class ConnectFailed(Exception):
    """The request never got a response: ``kind`` says why (``refused``, ``timeout``, ``reset``, ...)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


#: Where the streams go (scheme, host, port, path prefix), parsed once per process: the project's one
#: http(s) origin parser.
Target = Origin


class Connection(Protocol):
    """An HTTP response whose body is read as it arrives."""

    status: int
    headers: Mapping[str, str]

    def read(self, timeout: float) -> bytes:
        """Body bytes as soon as any arrive; ``b""`` at the end of the body or when the peer closed.
        Raises ``TimeoutError`` when nothing arrived within ``timeout`` seconds."""
        ...

    def read_all(self, timeout: float, limit: int = 64 * 1024) -> bytes:
        """The rest of a short (error) body, at most ``limit`` bytes."""
        ...

    @property
    def complete(self) -> bool:
        """True when the body ended properly (the last chunk), False for a cut connection."""
        ...

    def close(self) -> None: ...


def _classify(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "reset"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    if isinstance(exc, socket.gaierror):
        return "dns"
    return type(exc).__name__.lower()


class _Parsed:
    """httptools callbacks: collects headers and body pieces."""

    __slots__ = ("body", "done", "header_bytes", "headers", "headers_done")

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.headers_done = False
        self.done = False
        self.header_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


_TLS_CONTEXT: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _TLS_CONTEXT
    if _TLS_CONTEXT is None:
        _TLS_CONTEXT = ssl.create_default_context()
    return _TLS_CONTEXT


class _ReadAll:
    """``read_all`` on top of ``read``: shared by both transports."""

    def read(self, timeout: float) -> bytes:
        raise NotImplementedError

    def read_all(self, timeout: float, limit: int = 64 * 1024) -> bytes:
        """The rest of a short (error) body, bounded."""
        out = bytearray()
        while len(out) < limit:
            chunk = self.read(timeout)
            if not chunk:
                break
            out += chunk
        return bytes(out[:limit])


class RawConnection(_ReadAll):
    """One HTTP/1.1 GET on its own gevent socket (``Connection: close``: an SSE response is never
    followed by another request on the same connection)."""

    __slots__ = ("_parsed", "_parser", "_sock", "headers", "status")

    def __init__(self, sock: Any, parser: httptools.HttpResponseParser, parsed: _Parsed) -> None:
        self._sock = sock
        self._parser = parser
        self._parsed = parsed
        self.status = parser.get_status_code()
        self.headers: Mapping[str, str] = parsed.headers

    @classmethod
    def open(cls, target: Target, path: str, headers: Mapping[str, str], timeout: float) -> RawConnection:
        """Connect, send the request and wait for the response headers (at most ``timeout`` s)."""
        lines = [f"GET {target.prefix}{path} HTTP/1.1", f"Host: {target.host_header}", "Connection: close"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        sock: Any = None
        try:
            sock = socket.create_connection((target.host, target.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if target.scheme == "https":
                sock = _tls_context().wrap_socket(sock, server_hostname=target.host)
            sock.sendall(request)
            parsed = _Parsed()
            parser = httptools.HttpResponseParser(parsed)
            while not parsed.headers_done:
                data = sock.recv(RECV_SIZE)
                if not data:
                    raise ConnectFailed("closed", "connection closed before the response headers")
                parser.feed_data(data)
                if parsed.header_bytes > MAX_HEADER_BYTES:
                    raise ConnectFailed("protocol", "response headers too large")
        except ConnectFailed:
            if sock is not None:
                sock.close()
            raise
        except httptools.HttpParserError as exc:
            sock.close()
            raise ConnectFailed("protocol", f"malformed HTTP response: {exc}") from None
        except OSError as exc:
            if sock is not None:
                sock.close()
            raise ConnectFailed(_classify(exc), str(exc) or type(exc).__name__) from None
        return cls(sock, parser, parsed)

    @property
    def complete(self) -> bool:
        return self._parsed.done

    def read(self, timeout: float) -> bytes:
        parsed = self._parsed
        while not parsed.body:
            if parsed.done or self._sock is None:
                return b""
            self._sock.settimeout(timeout)
            data = self._sock.recv(RECV_SIZE)
            if not data:
                return b""
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise ConnectionError(f"malformed HTTP body framing: {exc}") from None
        out = parsed.body[0] if len(parsed.body) == 1 else b"".join(parsed.body)
        parsed.body.clear()
        return out

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class FastHttpConnection(_ReadAll):
    """The same contract over a ``FastHttpSession`` (see the module docstring for why it reads the
    geventhttpclient response's socket itself)."""

    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: Any) -> None:
        self._response = response
        self.status = int(response.status_code)
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in response.items()}

    @classmethod
    def open(cls, session: Any, target: Target, path: str, headers: Mapping[str, str],
             timeout: float) -> FastHttpConnection:
        url = f"{target.scheme}://{target.host_header}{target.prefix}{path}"
        try:
            fast_response = session.client.urlopen(url, method="GET", headers=dict(headers))
        except OSError as exc:
            raise ConnectFailed(_classify(exc), str(exc) or type(exc).__name__) from None
        except Exception as exc:
            response = getattr(exc, "response", None)
            if response is None:
                raise ConnectFailed(_classify(exc), str(exc) or type(exc).__name__) from None
            fast_response = response
        raw = fast_response._response
        if raw is None:
            raise ConnectFailed("protocol", "no response")
        return cls(raw)

    @property
    def complete(self) -> bool:
        return bool(self._response.message_complete)

    def read(self, timeout: float) -> bytes:
        response = self._response
        while not response._body_buffer:
            sock = response._sock
            if response.message_complete or sock is None:
                return b""
            sock.settimeout(timeout)
            data = sock.recv(RECV_SIZE)
            if not data:
                return b""
            response.feed(data)
        out = bytes(response._body_buffer)
        del response._body_buffer[:]
        return out

    def close(self) -> None:
        response = self._response
        sock, pool = response._sock, getattr(response, "_pool", None)
        if sock is None:
            return
        response._sock = None
        if pool is not None and not response.message_complete:
            pool.release_socket(sock)  # closes it and frees the pool slot; never reuse a cut stream
        elif pool is not None:
            pool.return_socket(sock)
        else:
            sock.close()
