"""Contract point 7: a client that stops reading is disconnected after ``SSE_SEND_TIMEOUT_S``.

Why a raw socket: an HTTP client library reads into its own buffers, so it can never stop reading. This
probe sends the stream request and reads nothing, with a 1 KB receive buffer and a small MSS set before
connecting: the small MSS keeps the server's send buffer small (Linux sizes it from the segment size;
on loopback's 64 KB segments it would swallow a whole megabyte job), so a long job blocks the server's
writes within a few hundred KB. Evidence is read only from the target: ``/streams/me`` (is the stalled
stream still counted?) and the bytes the socket finally holds (did the terminal status get through?).
A terminal status in those bytes means no write ever blocked: nothing was measured, not a pass.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from conformance.model import CheckResult, Outcome
from sse_contract.wire import Event, SSEDecoder

__all__ = ["SlowReading", "judge", "read_stalled"]

CHECK_ID = "stream.slow-reader"
#: the job: 5000 statuses of ~180 bytes (~1 MB), far more than a small-MSS connection buffers
STEPS, INTERVAL_MS = 5000, 0
#: wait this much beyond job end + send timeout before calling the stream stuck (the reference app's
#: supervisor ticks at a quarter of the timeout; a loaded 2-core box adds scheduling delay)
MARGIN_S = 2.0
POLL_S = 0.25
#: bounds: the stalled stream to be counted, the drain of what the socket holds
COUNTED_WAIT_S, DRAIN_S = 5.0, 5.0
TERMINAL = ("completed", "failed")


@dataclass
class SlowReading:
    """What the stalled reader saw. ``still_open`` None: the count could not be read."""

    send_timeout_s: float
    counted: bool = False
    still_open: bool | None = None
    stalled_s: float = 0.0
    #: seconds from the job's end to the first poll that no longer counted the stream (<= 0: cut during the job)
    released_after_end_s: float | None = None
    status_code: int | None = None
    body_bytes: int = 0
    terminal_seen: bool = False
    reason: str | None = None


def _connect(url: str, request: bytes, verify: bool) -> socket.socket:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    sock = socket.socket(socket.AF_INET6 if ":" in (parts.hostname or "") else socket.AF_INET, socket.SOCK_STREAM)
    # both before connect: the advertised window and MSS are fixed in the SYN
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    if hasattr(socket, "TCP_MAXSEG"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.settimeout(10)
    sock.connect((parts.hostname or "", port))
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        sock = context.wrap_socket(sock, server_hostname=parts.hostname)
    sock.sendall(request)
    return sock


def _drain(sock: socket.socket, deadline_s: float) -> tuple[bytes, bool]:
    """Everything the socket holds until the end (EOF or reset) or the deadline; True when it ended."""
    data = bytearray()
    end = time.monotonic() + deadline_s
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            return bytes(data), False
        except OSError:  # a reset (the server's TCP_USER_TIMEOUT abort) is an end too
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk
    return bytes(data), False


def parse(conn: h11.Connection, data: bytes, ended: bool) -> tuple[int | None, bytes]:
    """The status code and body (de-chunked) of what arrived; an incomplete body is what a cut leaves."""
    conn.receive_data(data)
    if ended:
        conn.receive_data(b"")
    status, body = None, bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:  # closed mid-body: the cut
            break
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif event is h11.NEED_DATA or isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)) \
                or event is h11.PAUSED:
            break
    return status, bytes(body)


def has_terminal(body: bytes) -> bool:
    for item in SSEDecoder().feed(body):
        if isinstance(item, Event) and item.event in ("status", "message", ""):
            try:
                state = json.loads(item.data).get("status")
            except (ValueError, AttributeError):
                continue
            if state in TERMINAL:
                return True
    return False


async def read_stalled(url: str, headers: dict[str, str], verify: bool, send_timeout_s: float, *,
                       start_job: Callable[[], Awaitable[None]], job_ended: Callable[[], Awaitable[bool]],
                       open_count: Callable[[], Awaitable[int | None]], job_window_s: float) -> SlowReading:
    """Open ``url`` without reading, run the long job, then see whether the stream was cut."""
    seen = SlowReading(send_timeout_s)
    before = await open_count()
    if before is None:
        seen.reason = "GET /api/v1/streams/me gave no open count"
        return seen
    parts = urlsplit(url)
    conn = h11.Connection(h11.CLIENT)
    request = conn.send(h11.Request(method="GET", target=parts.path + (f"?{parts.query}" if parts.query else ""),
                                    headers=[("Host", parts.netloc), ("Accept", "text/event-stream"),
                                             *headers.items()]))
    conn.send(h11.EndOfMessage())
    try:
        sock = await asyncio.to_thread(_connect, url, request or b"", verify)
    except OSError as exc:
        seen.reason = f"cannot connect: {type(exc).__name__}: {exc}"
        return seen
    try:
        deadline = time.monotonic() + COUNTED_WAIT_S
        for _ in range(int(COUNTED_WAIT_S / POLL_S) + 1):
            seen.counted = (await open_count() or 0) > before
            if seen.counted or time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_S)
        if not seen.counted:
            seen.reason = f"the stalled stream was never counted in /streams/me within {COUNTED_WAIT_S:g} s"
            return seen
        opened = time.monotonic()
        await start_job()
        deadline = time.monotonic() + job_window_s
        while not await job_ended():
            if time.monotonic() > deadline:
                seen.reason = f"the job did not end within {job_window_s:g} s"
                return seen
            await asyncio.sleep(POLL_S)
        ended_at = time.monotonic()
        deadline = ended_at + send_timeout_s + MARGIN_S
        while True:
            count = await open_count()
            if count is None:
                seen.reason = "GET /api/v1/streams/me stopped answering a count"
                return seen
            if count <= before:
                seen.still_open = False
                seen.released_after_end_s = round(time.monotonic() - ended_at, 2)
                break
            if time.monotonic() >= deadline:
                seen.still_open = True
                break
            await asyncio.sleep(POLL_S)
        seen.stalled_s = round(time.monotonic() - opened, 1)
        if seen.still_open:
            return seen
        data, ended = await asyncio.to_thread(_drain, sock, DRAIN_S)
        seen.status_code, body = parse(conn, data, ended)
        seen.body_bytes = len(body)
        seen.terminal_seen = has_terminal(body)
        return seen
    finally:
        sock.close()


def judge(seen: SlowReading | None) -> CheckResult:
    """Fail a stream still counted; a terminal status that got through measured nothing; a cut passes."""
    if seen is None:
        return CheckResult(CHECK_ID, Outcome.SKIP, "not measured: opt-in (--send-timeout-s S)")
    timeout = seen.send_timeout_s
    evidence = {"send_timeout_s": timeout, "stalled_s": seen.stalled_s, "status_code": seen.status_code,
                "body_bytes": seen.body_bytes, "released_after_job_end_s": seen.released_after_end_s}
    if seen.still_open:
        return CheckResult(CHECK_ID, Outcome.FAIL,
                           f"a reader that read nothing for {seen.stalled_s:g} s is still connected "
                           f"(SSE_SEND_TIMEOUT_S {timeout:g}): a stuck client holds a stream forever — 7. "
                           "end a stream whose write blocks longer than the send timeout", evidence)
    if seen.reason is not None or seen.still_open is None:
        return CheckResult(CHECK_ID, Outcome.SKIP, f"not measured: {seen.reason}", evidence)
    if seen.status_code is None:
        return CheckResult(CHECK_ID, Outcome.SKIP, "not measured: the stalled stream's connection held no "
                           "response (nothing to show it was the stream that was cut)", evidence)
    if seen.status_code != 200:
        return CheckResult(CHECK_ID, Outcome.FAIL, f"the stream answered {seen.status_code}, not 200, to the "
                           "stalled reader", evidence)
    if seen.terminal_seen:
        return CheckResult(CHECK_ID, Outcome.SKIP, f"not measured: the server's buffers held the whole job "
                           f"({seen.body_bytes / 1024:.0f} KB): no write blocked; a longer job is needed", evidence)
    return CheckResult(CHECK_ID, Outcome.PASS,
                       f"a reader that stopped reading was cut (released {seen.released_after_end_s:g} s after "
                       f"the job's end; {seen.body_bytes / 1024:.0f} KB arrived, no final status)", evidence)
