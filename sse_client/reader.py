"""One SSE response read as it arrives: status, headers, then every decoded item with its arrival time.

Comments (heartbeats) and ``retry:`` fields are items too, timed like events, because the tests and the
checker judge heartbeats and reconnection delays — which is why this is not ``httpx_sse`` (it drops
comments and gives no arrival times). The decoding is ``sse_contract.wire.SSEDecoder``; this module only
adds the HTTP around it. Reconnecting (``Last-Event-ID``, the ``retry:`` delay) is the caller's policy.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx

from sse_contract.wire import Comment, Event, Retry, SSEDecoder

__all__ = ["Arrival", "Chunk", "Item", "SSEStream", "open_stream"]

Item = Event | Comment | Retry


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float  # time.monotonic() when the chunk holding the item was read
    item: Item


@dataclass(frozen=True, slots=True)
class Chunk:
    at: float  # time.monotonic() when it was read
    size: int  # bytes, after content decoding when asked for
    items: list[Item]  # the items this read completed


class SSEStream:
    """An open response. ``arrivals()`` yields until the server ends the body; ``ended_by_server`` then
    says whether it ended cleanly (a cut raises ``httpx.HTTPError`` — RemoteProtocolError, ReadError...)."""

    def __init__(self, response: httpx.Response, opened_at: float) -> None:
        self.response = response
        self.opened_at = opened_at
        self.first_byte_at: float | None = None
        self.ended_by_server = False
        self.decoder = SSEDecoder()

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    @property
    def retry_ms(self) -> int | None:
        """The last ``retry:`` the server sent on this response."""
        return self.decoder.retry_ms

    async def chunks(self, *, decoded: bool = False) -> AsyncIterator[Chunk]:
        """Each read as it arrives, with the items it completed. ``decoded`` undoes a Content-Encoding first
        (the checker reads a gzipped stream to say so and still judge its events); the default reads the
        bytes as sent."""
        reads = self.response.aiter_bytes() if decoded else self.response.aiter_raw()
        async for data in reads:
            now = time.monotonic()
            if self.first_byte_at is None:
                self.first_byte_at = now
            yield Chunk(now, len(data), self.decoder.feed(data))
        self.ended_by_server = True

    async def arrivals(self) -> AsyncIterator[Arrival]:
        async for chunk in self.chunks():
            for item in chunk.items:
                yield Arrival(chunk.at, item)

    async def body(self) -> bytes:
        """The whole body of a non-stream answer (a 4xx/5xx)."""
        return await self.response.aread()

    def reset_on_close(self) -> bool:
        """Make closing this connection send a TCP RST instead of a FIN (SO_LINGER 0): what a crashed client
        or a NAT timeout looks like to the server. False when the transport exposes no socket."""
        stream = self.response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is None or not hasattr(sock, "setsockopt"):  # asyncio hands out a TransportSocket wrapper
            return False
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return True


@contextlib.asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    last_event_id: str | None = None,
    timeout: httpx.Timeout | float | None = None,
) -> AsyncIterator[SSEStream]:
    """GET ``url`` as an event stream; the connection is closed when the block exits."""
    request_headers = {"Accept": "text/event-stream", **(headers or {})}
    if last_event_id is not None:
        request_headers["Last-Event-ID"] = last_event_id
    opened = time.monotonic()
    async with client.stream("GET", url, headers=request_headers, params=params,
                             timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout) as response:
        yield SSEStream(response, opened)
