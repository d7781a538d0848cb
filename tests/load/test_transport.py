"""The raw transport against a real uvicorn: status, headers, chunked bodies handed on as they arrive,
timeouts and connect failures. (Plain blocking sockets here; under gevent the same code yields.)"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from loadtests.transport import ConnectFailed, RawConnection, Target
from reference_app.launcher import serve_asgi

pytestmark = pytest.mark.integration

GO_ON = threading.Event()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"X-Extra", b"Yes")]})
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        for _ in range(500):  # hold the stream until the test has read the first event
            if GO_ON.is_set():
                break
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"data: two\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/silent":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        await asyncio.sleep(5)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    else:
        body = b'{"detail":"too many open streams"}'
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"), (b"retry-after", b"5")]})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server() -> Iterator[Target]:
    with serve_asgi(app) as url:
        yield Target.parse(url + "/")


def test_target_parsing() -> None:
    assert Target.parse("https://example.com/base/") == Target("https", "example.com", 443, "/base")
    assert Target.parse("http://127.0.0.1:8000").host_header == "127.0.0.1:8000"
    with pytest.raises(ValueError, match="http"):
        Target.parse("ftp://x")


def test_a_chunk_is_handed_on_as_soon_as_it_arrives_and_the_end_is_clean(server: Target) -> None:
    GO_ON.clear()
    conn = RawConnection.open(server, "/stream", {"Accept": "text/event-stream"}, timeout=5)
    try:
        assert conn.status == 200
        assert conn.headers["content-type"] == "text/event-stream"
        assert conn.headers["x-extra"] == "Yes"
        # The server is still holding back "two" (it waits for GO_ON): "one" must arrive on its own.
        assert conn.read(5) == b"data: one\n\n"
        GO_ON.set()
        assert conn.read(5) == b"data: two\n\n"
        assert conn.read(5) == b""
        assert conn.complete
    finally:
        conn.close()


def test_an_error_response_exposes_status_headers_and_body(server: Target) -> None:
    conn = RawConnection.open(server, "/busy", {}, timeout=5)
    assert conn.status == 429
    assert conn.headers["retry-after"] == "5"
    assert conn.read_all(5) == b'{"detail":"too many open streams"}'
    conn.close()


def test_a_silent_stream_times_out_the_read(server: Target) -> None:
    conn = RawConnection.open(server, "/silent", {}, timeout=5)
    with pytest.raises(TimeoutError):
        conn.read(0.2)
    assert not conn.complete
    conn.close()


def test_a_refused_connect_is_classified() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectFailed) as info:
        RawConnection.open(Target("http", "127.0.0.1", port, ""), "/", {}, timeout=2)
    assert info.value.kind == "refused"
