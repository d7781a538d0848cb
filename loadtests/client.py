"""Follow one session's status stream the way a browser's EventSource does, and measure everything.

``StreamWatcher.watch`` opens the stream, decodes it with the project's one SSE decoder, reads every
status with ``ObservedStatus`` (nothing filled in), and on any cut (server end without a terminal status, a reset,
a silent connection, a client-side cut for reconnect storms) waits the server's ``retry:`` time and
reconnects with ``Last-Event-ID``, exactly like a browser. It stops at a terminal status, or on 204
(the server says the client already has the final event).

Measurements go to a ``Reporter`` (Locust's request event in a load test): ``connect`` (time to response
headers), ``first_event`` (request start to the first status), ``event`` (publish-to-receive latency:
the receive wall-clock time minus the status's own ``timestamp``; replays after a reconnect included,
since the client really waited for them; a status without ``timestamp`` is counted in ``latency_unknown``
and reported nowhere else — its latency is unknown, not 0), ``snapshot`` (the age of the state sent on a fresh connect,
which was published before the request and so is no delivery time), ``reconnect`` (from losing the
stream to the new response headers) and failures by type. Sequence accounting goes to ``LoadCounters``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from loadtests.accounting import LoadCounters, StreamTracker
from loadtests.observed import ObservedStatus, latency_ms
from loadtests.transport import ConnectFailed, Connection
from sse_contract.constants import EVENT_RESET, EVENT_STATUS
from sse_contract.wire import Comment, Event, Retry, SSEDecoder

__all__ = ["Reporter", "StreamError", "StreamWatcher", "WatchOptions", "WatchResult"]

#: Statuses after which retrying the same request cannot help: the watch is abandoned.
FATAL_STATUSES = frozenset({400, 401, 403, 404, 410, 422})


class Reporter(Protocol):
    def __call__(self, name: str, response_time_ms: float, length: int = 0,
                 exception: BaseException | None = None) -> None: ...


class StreamError(Exception):
    """A failure of the stream itself; the message starts with its type (e.g. ``http_429``)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass
class WatchOptions:
    connect_timeout_s: float = 30.0
    #: No byte (not even a heartbeat) for this long means the connection is dead: reconnect.
    idle_timeout_s: float = 60.0
    #: Give up a watch that has not seen its terminal status after this long.
    watch_timeout_s: float = 900.0
    #: Fixed reconnect delay; None waits the server's ``retry:`` (as a browser does).
    reconnect_delay_s: float | None = None
    #: Delay before the server sent any ``retry:`` (browsers use about 3 s).
    default_retry_s: float = 3.0
    #: Reconnect storms: cut the connection from the client side after a random 50-100 % of this.
    cut_every_s: float | None = None
    #: Consecutive failed attempts (no 200) before the watch is abandoned.
    max_failed_attempts: int = 30


@dataclass
class WatchResult:
    terminal_status: str | None
    events: int
    connections: int
    tracker: StreamTracker


Opener = Callable[[str, Mapping[str, str], float], Connection]


class StreamWatcher:
    """Reusable by many watches of one user: holds the opener, the reporter and the shared counters."""

    def __init__(self, opener: Opener, report: Reporter, counters: LoadCounters,
                 options: WatchOptions | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.open = opener
        self.report = report
        self.counters = counters
        self.options = options or WatchOptions()
        self.sleep = sleep

    def _fail(self, kind: str, elapsed_ms: float, detail: str = "", name: str = "connect") -> None:
        self.counters.error(kind)
        self.report(name, elapsed_ms, 0, StreamError(kind, detail))

    def watch(self, path: str, headers: Mapping[str, str],
              on_open: Callable[[], bool] | None = None) -> WatchResult:
        """Follow ``path`` (the stream URL path) until a terminal status, 204, or giving up.

        ``on_open`` runs once, after the first stream's headers: the place to start the job, so that
        every one of its events is delivered live (and its latency means something). If it returns
        False (the job could not be started) the watch is abandoned."""
        options, counters = self.options, self.counters
        tracker = StreamTracker()
        last_event_id = ""
        retry_s = options.default_retry_s
        connections = 0
        failed_attempts = 0
        lost_at: float | None = None  # perf_counter when the previous connection was lost
        terminal: str | None = None
        deadline = time.perf_counter() + options.watch_timeout_s
        counters.watches_started += 1
        counters.watches_open += 1
        ended = False
        try:
            while terminal is None:
                if time.perf_counter() > deadline:
                    self._fail("watch_timeout", 0.0, f"no terminal status within {options.watch_timeout_s}s",
                               name="stream")
                    counters.watches_abandoned += 1
                    break
                if lost_at is not None:
                    delay = options.reconnect_delay_s if options.reconnect_delay_s is not None else retry_s
                    self.sleep(delay)
                request_headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache",
                                   "Accept-Encoding": "identity", **headers}
                if last_event_id:
                    request_headers["Last-Event-ID"] = last_event_id
                started = time.perf_counter()
                try:
                    conn = self.open(path, request_headers, options.connect_timeout_s)
                except ConnectFailed as exc:
                    self._fail(f"connect_{exc.kind}", (time.perf_counter() - started) * 1000, str(exc))
                    failed_attempts += 1
                    lost_at = lost_at or started
                    if failed_attempts >= options.max_failed_attempts:
                        counters.watches_abandoned += 1
                        break
                    continue
                headers_ms = (time.perf_counter() - started) * 1000
                if conn.status == 204:
                    conn.close()
                    self.report("connect", headers_ms, 0)
                    terminal = "finished"  # the server says we already have the final event
                    counters.terminal["204"] += 1
                    break
                content_type = conn.headers.get("content-type", "")
                if conn.status != 200 or not content_type.startswith("text/event-stream"):
                    body = b""
                    try:
                        body = conn.read_all(2.0, 512)
                    except OSError:
                        pass
                    finally:
                        conn.close()
                    kind = f"http_{conn.status}" if conn.status != 200 else "bad_content_type"
                    self._fail(kind, headers_ms, body.decode("utf-8", "replace")[:200])
                    failed_attempts += 1
                    lost_at = lost_at or started
                    if conn.status in FATAL_STATUSES or failed_attempts >= options.max_failed_attempts:
                        counters.watches_abandoned += 1
                        break
                    retry_after = conn.headers.get("retry-after", "")
                    if retry_after.isdigit():
                        self.sleep(min(float(retry_after), 30.0))
                    continue
                # A stream.
                failed_attempts = 0
                connections += 1
                self.report("connect", headers_ms, 0)
                if lost_at is not None:
                    counters.reconnects += 1
                    self.report("reconnect", (time.perf_counter() - lost_at) * 1000, 0)
                    lost_at = None
                counters.stream_opened()
                end = "interrupted"
                try:
                    if on_open is not None:
                        callback, on_open = on_open, None
                        if not callback():
                            end = "job_not_started"
                            counters.watches_abandoned += 1
                            break
                    terminal, end, retry_s, last_event_id = self._read_stream(
                        conn, tracker, started, retry_s, last_event_id)
                finally:
                    conn.close()
                    counters.stream_closed(end)
                if terminal is None:
                    lost_at = time.perf_counter()
            ended = True
        finally:
            counters.watches_open -= 1
            if not ended:  # killed (Locust stopping the user) or crashed: it never saw its end
                counters.watches_interrupted += 1
            elif terminal is not None:
                counters.watches_terminal += 1
                if terminal != "finished":
                    counters.terminal[terminal] += 1
        return WatchResult(terminal, tracker.events, connections, tracker)

    def _read_stream(self, conn: Connection, tracker: StreamTracker, started: float, retry_s: float,
                     last_event_id: str) -> tuple[str | None, str, float, str]:
        """Read one connection; returns (terminal status or None, why it ended, retry s, last id)."""
        options, counters, report = self.options, self.counters, self.report
        decoder = SSEDecoder()
        decoder.last_event_id = last_event_id  # an EventSource keeps it across reconnections
        requested_at = time.time() - (time.perf_counter() - started)
        first = True
        cut_at = None
        if options.cut_every_s:
            cut_at = time.perf_counter() + options.cut_every_s * random.uniform(0.5, 1.0)
        while True:
            timeout, cutting = options.idle_timeout_s, False
            if cut_at is not None:
                remaining = cut_at - time.perf_counter()
                if remaining <= 0:
                    return None, "client_cut", retry_s, decoder.last_event_id
                cutting = remaining < timeout
                timeout = min(timeout, remaining)
            try:
                chunk = conn.read(timeout)
            except TimeoutError:
                if cutting:
                    return None, "client_cut", retry_s, decoder.last_event_id
                self._fail("idle_timeout", options.idle_timeout_s * 1000,
                           f"no data for {options.idle_timeout_s}s", name="stream")
                return None, "idle_timeout", retry_s, decoder.last_event_id
            except OSError as exc:
                self._fail("stream_reset", 0.0, str(exc), name="stream")
                return None, "reset", retry_s, decoder.last_event_id
            if not chunk:
                return None, ("end" if conn.complete else "eof"), retry_s, decoder.last_event_id
            received = time.time()
            for item in decoder.feed(chunk):
                if isinstance(item, Event):
                    counters.events_by_type[item.event] += 1
                    if item.event == EVENT_STATUS:
                        try:
                            update = ObservedStatus.from_json(item.data)
                        except ValidationError as exc:
                            self._fail("bad_event", 0.0, str(exc).splitlines()[0], name="stream")
                            continue
                        counters.events_received += 1
                        counters.apply(*tracker.observe(update.seq))
                        published = update.published
                        fresh = first and not last_event_id
                        if first:
                            report("first_event", (time.perf_counter() - started) * 1000, len(item.data))
                            first = False
                        # The snapshot of a fresh connect was published before we even asked, so its
                        # age is not a delivery time. (A replay after a reconnect is: the client really
                        # waited that long for it.) Without a timestamp the first status of a fresh
                        # connect counts as the snapshot.
                        snapshot = fresh and (published is None or published < requested_at)
                        if snapshot:
                            counters.snapshots += 1
                        latency = latency_ms(received, published)
                        if latency is None:
                            counters.latency_unknown += 1
                        else:
                            report("snapshot" if snapshot else "event", latency, len(item.data))
                        if update.terminal:
                            return update.status.value, "terminal", retry_s, decoder.last_event_id
                    elif item.event == EVENT_RESET:
                        counters.resets += 1
                        tracker.reset()
                elif isinstance(item, Comment):
                    counters.heartbeats += 1
                elif isinstance(item, Retry):
                    retry_s = item.milliseconds / 1000
