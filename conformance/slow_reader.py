"""Contract point 7: a client that stops reading is disconnected after ``SSE_SEND_TIMEOUT_S``.

Why a raw socket: an HTTP client library reads into its own buffers, so it can never stop reading. This
probe sends the stream request and reads nothing, with a 1 KB receive buffer and a small MSS set before
connecting: the small MSS keeps the server's send buffer small (Linux sizes it from the segment size;
on loopback's 64 KB segments it would swallow a whole megabyte job), so a long job blocks the server's
writes within a few hundred KB. Evidence is read only from the target: ``/streams/me`` (is the stalled
stream still counted?) and the bytes the socket finally holds (did the terminal status get through?).
A terminal status in those bytes means no write ever blocked: nothing was measured, not a pass.

Release from the count is not a disconnect: a server that stops writing but leaves the connection open
(uvicorn's ``transport.close()`` waits forever to flush to a client that reads nothing) still pins the
client's buffers. So the drain must end (EOF or reset) and yield no more than our own receive buffer could
hold: we read nothing before it, so anything beyond that was still held by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
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

__all__ = ["NotMeasured", "SlowReading", "judge", "read_stalled"]

CHECK_ID = "stream.slow-reader"
#: the job: 5000 statuses of ~180 bytes (~1 MB), far more than a small-MSS connection buffers
STEPS, INTERVAL_MS = 5000, 0
#: wait this much beyond job end + send timeout before calling the stream stuck (the reference app's
#: supervisor ticks at a quarter of the timeout; a loaded 2-core box adds scheduling delay)
MARGIN_S = 2.0
POLL_S = 0.25
#: bounds: the stalled stream to be counted, the drain of what the socket holds
COUNTED_WAIT_S, DRAIN_S = 5.0, 5.0
#: beyond one send timeout after the release, before the drain (the kernel's abort may lag the release)
DRAIN_GRACE_S = 1.0
#: the count must hold still this long before the baseline is taken (the other phases' streams closing)
SETTLE_WAIT_S = 5.0
#: what may arrive beyond our receive buffer (SO_RCVBUF as the kernel set it: 2,304 B for our 1 KB) after a
#: real cut: segments in flight and the kernel's rounding. Measured on loopback, send timeout 1 s: the
#: reference app (SSE_SEND_TIMEOUT_S=1, its TCP_USER_TIMEOUT abort) drained 1,072 B then a reset (3 job
#: statuses); the clean contract app (SO_LINGER 0 + abort) 1,072 B then a reset (2 job statuses); the
#: contract app that stops writing but leaves the connection open 93-96 KB (the review: 89 KB), then EOF.
HELD_MARGIN_B = 16 * 1024
TERMINAL = ("completed", "failed")


class NotMeasured(Exception):
    """A step of the probe could not be done (a network error, a refused job): the check is not measured."""


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
    #: the drain ended with EOF ("eof"), a reset ("reset"), or was still open at its deadline ("open")
    drain_end: str | None = None
    #: the bytes the drain read off the wire (headers and chunking included), and our receive buffer
    drained_bytes: int = 0
    rcvbuf_bytes: int = 0
    #: status events after the snapshot: the job's writes reached the socket
    job_statuses: int = 0
    max_lifetime_s: float | None = None
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


def _drain(sock: socket.socket, deadline_s: float) -> tuple[bytes, str]:
    """Everything the socket holds until the end or the deadline, and how it ended: eof, reset or open."""
    data = bytearray()
    end = time.monotonic() + deadline_s
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            return bytes(data), "open"
        except OSError:  # a reset (the server's TCP_USER_TIMEOUT abort) is an end too
            return bytes(data), "reset"
        if not chunk:
            return bytes(data), "eof"
        data += chunk
    return bytes(data), "open"


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


def _states(body: bytes) -> list[str | None]:
    states: list[str | None] = []
    for item in SSEDecoder().feed(body):
        if isinstance(item, Event) and item.event in ("status", "message", ""):
            try:
                data = json.loads(item.data)
            except ValueError:
                continue
            states.append(data.get("status") if isinstance(data, dict) else None)
    return states


def has_terminal(body: bytes) -> bool:
    return any(state in TERMINAL for state in _states(body))


def job_statuses(body: bytes) -> int:
    """Status events after the first (the snapshot of the session before the job)."""
    return max(0, len(_states(body)) - 1)


async def _settled(open_count: Callable[[], Awaitable[int | None]]) -> int | None:
    """The count once two reads in a row agree (streams other phases closed a moment ago drop out)."""
    before = await open_count()
    deadline = time.monotonic() + SETTLE_WAIT_S
    while before is not None and time.monotonic() < deadline:
        await asyncio.sleep(2 * POLL_S)
        again = await open_count()
        if again == before:
            break
        before = again
    return before


async def read_stalled(url: str, headers: dict[str, str], verify: bool, send_timeout_s: float, *,
                       start_job: Callable[[], Awaitable[None]], job_ended: Callable[[], Awaitable[bool]],
                       open_count: Callable[[], Awaitable[int | None]], job_window_s: float,
                       max_lifetime_s: float | None = None) -> SlowReading:
    """Open ``url`` without reading, run the long job, then see whether the stream was cut."""
    seen = SlowReading(send_timeout_s, max_lifetime_s=max_lifetime_s)
    try:
        return await _read_stalled(seen, url, headers, verify, start_job=start_job, job_ended=job_ended,
                                   open_count=open_count, job_window_s=job_window_s)
    except NotMeasured as exc:
        seen.reason = str(exc)
        return seen


async def _read_stalled(seen: SlowReading, url: str, headers: dict[str, str], verify: bool, *,
                        start_job: Callable[[], Awaitable[None]], job_ended: Callable[[], Awaitable[bool]],
                        open_count: Callable[[], Awaitable[int | None]], job_window_s: float) -> SlowReading:
    send_timeout_s = seen.send_timeout_s
    before = await _settled(open_count)
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
        # a reader that drains at once acknowledges data and reopens the window, which itself un-sticks a
        # server whose kernel abort (TCP_USER_TIMEOUT, counted from the zero window) lags its release: measured
        # on the reference app, draining right after the release drained ~94 KB then EOF in 2 of 4 runs.
        # The connection must be gone one send timeout (+ a margin) after the release, not at the release.
        await asyncio.sleep(send_timeout_s + DRAIN_GRACE_S)
        seen.stalled_s = round(time.monotonic() - opened, 1)  # the stream's age at the drain (vs a lifetime)
        with contextlib.suppress(OSError):
            seen.rcvbuf_bytes = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        data, seen.drain_end = await asyncio.to_thread(_drain, sock, DRAIN_S)
        seen.drained_bytes = len(data)
        seen.status_code, body = parse(conn, data, seen.drain_end != "open")
        seen.body_bytes = len(body)
        seen.terminal_seen = has_terminal(body)
        seen.job_statuses = job_statuses(body)
        return seen
    finally:
        sock.close()


def held_limit(seen: SlowReading) -> int:
    """The most a real cut can leave us: our receive buffer plus what was in flight."""
    return seen.rcvbuf_bytes + HELD_MARGIN_B


def judge(seen: SlowReading | None) -> CheckResult:
    """Fail a stream still counted or still connected; a terminal status that got through measured
    nothing; a connection that ended after little data, carrying the job's statuses, passes."""
    if seen is None:
        return CheckResult(CHECK_ID, Outcome.SKIP, "not measured: opt-in (--send-timeout-s S)")
    timeout = seen.send_timeout_s
    evidence = {"send_timeout_s": timeout, "stalled_s": seen.stalled_s, "status_code": seen.status_code,
                "body_bytes": seen.body_bytes, "released_after_job_end_s": seen.released_after_end_s,
                "drain_end": seen.drain_end, "drained_bytes": seen.drained_bytes,
                "rcvbuf_bytes": seen.rcvbuf_bytes, "job_statuses": seen.job_statuses}
    if seen.still_open:
        return CheckResult(CHECK_ID, Outcome.FAIL,
                           f"a reader that read nothing for {seen.stalled_s:g} s is still connected "
                           f"(SSE_SEND_TIMEOUT_S {timeout:g}): a stuck client holds a stream forever — 7. "
                           "end a stream whose write blocks longer than the send timeout", evidence)
    if seen.reason is not None or seen.still_open is None:
        return CheckResult(CHECK_ID, Outcome.SKIP, f"not measured: {seen.reason}", evidence)
    if seen.drain_end == "open":
        return CheckResult(CHECK_ID, Outcome.FAIL,
                           f"released from /streams/me but the connection was still open {DRAIN_S:g} s into the "
                           f"drain ({seen.drained_bytes / 1024:.0f} KB read): the stuck client is not "
                           "disconnected — 7.", evidence)
    if seen.status_code is None:
        return CheckResult(CHECK_ID, Outcome.SKIP, "not measured: the stalled stream's connection held no "
                           "response (nothing to show it was the stream that was cut)", evidence)
    if seen.status_code != 200:
        return CheckResult(CHECK_ID, Outcome.FAIL, f"the stream answered {seen.status_code}, not 200, to the "
                           "stalled reader", evidence)
    if seen.terminal_seen:
        return CheckResult(CHECK_ID, Outcome.SKIP, f"not measured: the server's buffers held the whole job "
                           f"({seen.body_bytes / 1024:.0f} KB): no write blocked; a longer job is needed", evidence)
    if seen.drained_bytes > held_limit(seen):
        return CheckResult(CHECK_ID, Outcome.FAIL,
                           f"released from /streams/me but the connection stayed open holding "
                           f"{seen.drained_bytes / 1024:.0f} KB (our receive buffer holds "
                           f"{seen.rcvbuf_bytes / 1024:.1f} KB): the stuck client still costs its buffers — 7. "
                           "abort the connection (e.g. TCP_USER_TIMEOUT), do not wait to flush it", evidence)
    if seen.job_statuses == 0:
        return CheckResult(CHECK_ID, Outcome.SKIP, "not measured: the stalled stream carried no status of the "
                           "job (nothing shows the job's writes were what blocked)", evidence)
    if seen.max_lifetime_s is not None and seen.max_lifetime_s <= seen.stalled_s:
        return CheckResult(CHECK_ID, Outcome.SKIP,
                           f"not measured: --max-lifetime-s {seen.max_lifetime_s:g} is at or below the probe's "
                           f"{seen.stalled_s:g} s: the stream's lifetime may be what ended it", evidence)
    how = "reset" if seen.drain_end == "reset" else "closed"
    return CheckResult(CHECK_ID, Outcome.PASS,
                       f"a reader that stopped reading was cut (released {seen.released_after_end_s:g} s after "
                       f"the job's end, connection {how}; {seen.body_bytes / 1024:.0f} KB arrived, "
                       f"{seen.job_statuses} job statuses, no final status)", evidence)
