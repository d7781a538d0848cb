"""The checker's HTTP side: a client that looks like a browser on the wire, and a stream recorder.

The point of a conformance check is to see what a browser would see through every intermediary, so the
requests carry what a browser's EventSource sends (``Accept: text/event-stream``, ``Cache-Control:
no-cache``, ``Accept-Encoding: gzip, deflate, br``, the cookie) and HTTP/2 is offered (ALPN on https).
The recorder timestamps every byte chunk and every parsed item on arrival; the checks judge the
recording, so they are pure functions that unit tests can feed.

Reading is ``sse_client.open_stream`` (content-decoded, so a gzipped stream is still judged event by event),
the project's one async SSE reader; parsing is its ``sse_contract.wire.SSEDecoder``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import httpx

from sse_client import open_stream
from sse_contract import __version__
from sse_contract.status import TERMINAL_STATES, StatusUpdate
from sse_contract.wire import Comment, Event, Item, Retry

__all__ = [
    "BROWSER_HEADERS", "Arrival", "Credentials", "StreamRecord", "make_client", "one_line", "open_streams",
    "record_stream",
]

BROWSER_HEADERS = {
    "Accept": "text/event-stream",
    "Accept-Encoding": "gzip, deflate, br",
    "Cache-Control": "no-cache",
    "User-Agent": f"sse-harness-check/{__version__} (EventSource-like)",
}

EndReason = Literal["closed", "cut", "stopped", "window", "refused"]


@dataclass(frozen=True)
class Credentials:
    """How requests authenticate. ``cookie`` is what a browser EventSource sends; ``token`` a bearer."""

    token: str | None = None
    cookie: str | None = None
    cookie_name: str = "access_token"

    def headers(self, for_stream: bool = False) -> dict[str, str]:
        """A stream request carries the cookie when there is one (as EventSource would), else the bearer."""
        if for_stream and self.cookie:
            return {"Cookie": f"{self.cookie_name}={self.cookie}"}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.cookie:
            return {"Cookie": f"{self.cookie_name}={self.cookie}"}
        return {}

    @property
    def kind(self) -> str:
        return "cookie" if self.cookie else "bearer" if self.token else "none"


@dataclass(frozen=True, slots=True)
class Arrival:
    """One parsed item and when it arrived: ``t`` seconds after the request started, ``wall`` UTC."""

    t: float
    wall: datetime
    item: Item

    @property
    def event(self) -> Event | None:
        return self.item if isinstance(self.item, Event) else None

    def status(self) -> StatusUpdate | None:
        """The payload as a ``StatusUpdate``, if it is one (all fields present and valid: nothing is
        filled in)."""
        if not isinstance(self.item, Event):
            return None
        try:
            return StatusUpdate.from_json(self.item.data)
        except ValueError:
            return None

    def state(self) -> str | None:
        """The payload's ``status`` field, read even when the payload is not a valid status: only to
        follow the stream (is this the final event?), never to judge it — stream.payload does that."""
        if not isinstance(self.item, Event) or self.item.event in ("reset", "stalled"):
            return None
        try:
            data = json.loads(self.item.data)
        except ValueError:
            return None
        value = data.get("status") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None

    @property
    def is_final(self) -> bool:
        return self.state() in {s.value for s in TERMINAL_STATES}


@dataclass
class StreamRecord:
    """Everything observed on one stream request."""

    url: str
    request_headers: dict[str, str]
    started_wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    http_version: str | None = None
    t_headers: float | None = None
    arrivals: list[Arrival] = field(default_factory=list)
    chunks: list[tuple[float, int]] = field(default_factory=list)
    #: closed = the server ended the body cleanly; cut = the connection broke mid-body; stopped = our
    #: ``stop_when`` said enough; window = our time window ran out with the stream still open;
    #: refused = no response at all
    end: EndReason = "window"
    t_end: float = 0.0
    error: str | None = None
    body_excerpt: str = ""

    @property
    def opened(self) -> bool:
        return self.status == 200

    @property
    def events(self) -> list[Arrival]:
        return [a for a in self.arrivals if isinstance(a.item, Event)]

    @property
    def comments(self) -> list[Arrival]:
        return [a for a in self.arrivals if isinstance(a.item, Comment)]

    @property
    def retries(self) -> list[Arrival]:
        return [a for a in self.arrivals if isinstance(a.item, Retry)]

    @property
    def t_first_event(self) -> float | None:
        events = self.events
        return events[0].t if events else None

    @property
    def t_last_byte(self) -> float | None:
        return self.chunks[-1][0] if self.chunks else None

    def terminal_event(self) -> Arrival | None:
        return next((arrival for arrival in self.events if arrival.is_final), None)

    def describe_failure(self) -> str:
        if self.status is None and self.end == "window":
            return (f"sent no response headers within {self.t_end:.1f} s (an intermediary holding the whole "
                    "response, e.g. buffering with compression, or a hung origin)")
        if self.status is None:
            return f"no response ({self.error or 'connection failed'})"
        excerpt = f": {one_line(self.body_excerpt, 120)!r}" if self.body_excerpt else ""
        return f"answered {self.status}{excerpt}"


def one_line(text: str, limit: int = 160) -> str:
    """A response body as one short line: an HTML error page becomes its title (or its text), collapsed."""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, flags=re.I | re.S)
    if title:
        text = title.group(1)
    elif "<" in text and ">" in text:
        text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_client(*, http2: bool = True, verify: bool = True, max_connections: int = 50) -> httpx.AsyncClient:
    """An async client with the browser-like defaults; stream timeouts are managed by the recorder."""
    return httpx.AsyncClient(
        http2=http2,
        verify=verify,
        headers={k: v for k, v in BROWSER_HEADERS.items() if k != "Accept"},
        timeout=httpx.Timeout(15.0, read=None),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=10),
        follow_redirects=False,
    )


async def record_stream(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    window_s: float,
    stop_when: Callable[[StreamRecord], bool] | None = None,
    linger_after_terminal_s: float | None = None,
    on_chunk: Callable[[StreamRecord], object] | None = None,
    hold_s: float | None = None,
    silence_limit_s: float | None = None,
    on_headers: Callable[[StreamRecord], object] | None = None,
    hold_until_event: bool = False,
) -> StreamRecord:
    """Open ``url`` as an event stream and record it until it ends, ``stop_when`` returns True, or
    ``window_s`` passes. With ``linger_after_terminal_s``, the window shrinks to that long after a
    final status arrives (a server that keeps the stream open then is caught fast, not at the window).

    The idle recording (``hold_s`` and ``silence_limit_s``): hold the stream at least ``hold_s``, then
    stop at its next byte — or once ``silence_limit_s`` passed without a byte. So a heartbeat every 15 s
    costs about 15 s, and a stream that never pings is given up on at the limit, not at ``window_s``."""
    request_headers = {**BROWSER_HEADERS, **(headers or {})}
    record = StreamRecord(url=url, request_headers=request_headers, started_wall=datetime.now(UTC))
    loop = asyncio.get_running_loop()
    loop_start = loop.time()
    start = time.monotonic()
    try:
        async with asyncio.timeout(window_s) as scope:
            async with open_stream(client, url, headers=request_headers) as stream:
                response = stream.response
                record.t_headers = time.monotonic() - start
                if silence_limit_s is not None:
                    scope.reschedule(min(loop_start + window_s,
                                         loop_start + max(hold_s or 0.0, record.t_headers + silence_limit_s)))
                record.status = response.status_code
                record.headers = response.headers
                record.http_version = response.http_version
                if on_headers is not None:
                    on_headers(record)
                if response.status_code != 200:
                    body = await response.aread()
                    record.body_excerpt = body[:500].decode("utf-8", "replace")
                    record.end = "closed"
                    return record
                async for chunk in stream.chunks(decoded=True):
                    now = chunk.at - start
                    wall = datetime.now(UTC)
                    record.chunks.append((now, chunk.size))
                    for item in chunk.items:
                        arrival = Arrival(now, wall, item)
                        record.arrivals.append(arrival)
                        if linger_after_terminal_s is not None and arrival.is_final:
                            assert linger_after_terminal_s is not None
                            scope.reschedule(min(scope.when() or float("inf"),
                                                 loop.time() + linger_after_terminal_s))
                    if on_chunk is not None:
                        on_chunk(record)
                    if stop_when is not None and stop_when(record):
                        record.end = "stopped"
                        return record
                    if hold_s is not None and now >= hold_s and (record.events or not hold_until_event):
                        record.end = "stopped"
                        return record
                    if silence_limit_s is not None and not (linger_after_terminal_s is not None
                                                            and record.terminal_event() is not None):
                        scope.reschedule(min(loop_start + window_s,
                                             loop_start + max(hold_s or 0.0, now + silence_limit_s)))
                record.end = "closed"
    except TimeoutError:
        record.end = "window"
    except httpx.HTTPError as exc:
        record.error = f"{type(exc).__name__}: {exc}"
        record.end = "cut" if record.status is not None else "refused"
    except Exception as exc:  # h2 protocol errors (e.g. a Connection header on HTTP/2) are not HTTPError
        record.error = f"{type(exc).__name__}: {exc}"
        record.end = "cut" if record.status is not None else "refused"
    finally:
        record.t_end = time.monotonic() - start
    return record


@asynccontextmanager
async def open_streams(client: httpx.AsyncClient, url: str, headers: dict[str, str], count: int,
                       timeout_s: float = 10.0) -> AsyncIterator[list[httpx.Response]]:
    """Open up to ``count`` streams one after another and keep them open (the per-user cap probe);
    yields the responses, stopping at the first that is not 200."""
    responses: list[httpx.Response] = []
    try:
        for _ in range(count):
            async with asyncio.timeout(timeout_s):
                request = client.build_request("GET", url, headers={**BROWSER_HEADERS, **headers})
                response = await client.send(request, stream=True)
            responses.append(response)
            if response.status_code != 200:
                await response.aread()
                break
        yield responses
    finally:
        for response in responses:
            await response.aclose()
