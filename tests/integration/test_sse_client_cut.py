"""``sse_client`` over a real socket: a stream the server ends properly is a clean end, one cut in the
middle of its chunked body raises and is not (what the fault tests' followers count as ``ended_cleanly``)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sse_client import open_stream
from sse_contract.wire import Event

pytestmark = pytest.mark.integration

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
EVENT = b"id: 1\ndata: a\n\n"
CHUNK = b"%x\r\n%s\r\n" % (len(EVENT), EVENT)


@pytest.mark.parametrize("cut", [False, True])
async def test_clean_end_and_cut(cut: bool) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD + CHUNK + (b"" if cut else b"0\r\n\r\n"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    received = []
    try:
        async with asyncio.timeout(10), httpx.AsyncClient() as client, \
                open_stream(client, f"http://127.0.0.1:{port}/s") as stream:
            try:
                async for arrival in stream.arrivals():
                    received.append(arrival.item)
            except httpx.HTTPError as exc:
                assert cut, f"a clean end raised {exc!r}"
    finally:
        server.close()
        await server.wait_closed()
    assert received == [Event(data="a", id="1", has_id=True)]
    assert stream.ended_by_server is not cut


async def test_reset_on_close_sends_a_tcp_reset() -> None:
    """What the fault tests' ``Follower.reset`` relies on: the server sees a reset, not a FIN."""
    seen: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD + CHUNK)
        await writer.drain()
        try:
            seen.set_result("fin" if await reader.read() == b"" else "data")
        except ConnectionResetError:
            seen.set_result("reset")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(10):
            async with httpx.AsyncClient() as client, open_stream(client, f"http://127.0.0.1:{port}/s") as stream:
                async for _arrival in stream.arrivals():
                    assert stream.reset_on_close()
                    break
            assert await seen == "reset"
    finally:
        server.close()
        await server.wait_closed()
