"""The stream side of ``sse-harness bench capacity``: one gevent process holding N SSE streams.

Run by ``loadtests.bench`` as ``python -m loadtests.bench_client``; it takes commands on stdin and answers
with one JSON object per line on stdout, so the orchestrator can publish while this process only reads.

Why not the Locust user: a capacity benchmark measures the *server*, so the client must cost as little per
event as possible. Each stream's greenlet only stamps the receive time and keeps the raw bytes; decoding
(with the project's ``SSEDecoder`` and ``StatusUpdate``, as everywhere) happens in batches — at the end
of a burst, or every few chunks during the sustained phase — so a 10,000-stream burst is not timed by the
client's own parsing of the first 9,999 events.

Commands (one per line): ``burst`` / ``sustain`` (start a measurement phase, answer ``ready``),
``report {"session_id": events_expected, ...} TIMEOUT_S`` (wait until every stream has its expected
events of the phase, then answer the phase's figures), ``finish TIMEOUT_S`` (wait until every stream got
its terminal status and ended), ``storm_*`` (the reconnect storm, see ``loadtests/storm_client.py``),
``quit``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.fileobject import FileObjectPosix  # noqa: E402
from gevent.lock import Semaphore  # noqa: E402

from loadtests.accounting import StreamTracker  # noqa: E402
from loadtests.observed import ObservedStatus, latency_ms  # noqa: E402
from loadtests.percentiles import histogram, summarize  # noqa: E402
from loadtests.system import raise_fd_limit  # noqa: E402
from loadtests.transport import ConnectFailed, Connection, FastHttpConnection, RawConnection, Target  # noqa: E402
from sse_contract.wire import Event, SSEDecoder  # noqa: E402

DECODE_EVERY = 16


def _distribution(values: list[float]) -> dict[str, Any]:
    """Percentiles (None without samples) and the distribution, for the table and the HTML report."""
    return {**summarize(values), "histogram": histogram(values)}


class Stream:
    __slots__ = ("chunks", "conn", "connect_ms", "decoder", "ended", "error", "latency_unknown", "phase_events",
                 "phase_latencies", "session_id", "terminal", "tracker")

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.conn: Connection | None = None
        self.decoder = SSEDecoder()
        self.tracker = StreamTracker()
        self.chunks: list[tuple[float, bytes]] = []
        self.phase_events = 0
        self.phase_latencies: list[float] = []
        self.latency_unknown = 0
        self.connect_ms = 0.0
        self.terminal = False
        self.ended = False
        self.error = ""

    def decode(self) -> None:
        chunks, self.chunks = self.chunks, []
        for received, data in chunks:
            for item in self.decoder.feed(data):
                if isinstance(item, Event) and item.event == "status":
                    try:
                        update = ObservedStatus.from_json(item.data)
                    except ValueError:
                        self.error = "bad_event"
                        continue
                    self.tracker.observe(update.seq)
                    self.phase_events += 1
                    latency = latency_ms(received, update.published)
                    if latency is None:  # unknown, not 0
                        self.latency_unknown += 1
                    else:
                        self.phase_latencies.append(latency)
                    if update.terminal:
                        self.terminal = True

    def new_phase(self) -> None:
        self.decode()
        self.phase_events = 0
        self.phase_latencies = []
        self.latency_unknown = 0


class Client:
    def __init__(self, args: argparse.Namespace) -> None:
        self.target = Target.parse(args.host)
        self.token = args.token
        self.transport = args.transport
        self.streams = [Stream(args.sessions[i % len(args.sessions)]) for i in range(args.streams)]
        self.connect_gate = Semaphore(args.connect_concurrency)
        self.connected = 0
        self.failed = 0
        self.greenlets: list[gevent.Greenlet] = []
        self._environment: Any = None

    def _open(self, path: str, headers: dict[str, str]) -> Connection:
        if self.transport == "fasthttp":
            from locust.contrib.fasthttp import FastHttpSession
            from locust.env import Environment

            if self._environment is None:
                self._environment = Environment()
            base = f"{self.target.scheme}://{self.target.host_header}"
            # One session per stream, as every FastHttpUser has its own.
            session = FastHttpSession(base, self._environment.events.request, user=None,
                                      network_timeout=3600.0, connection_timeout=60.0)
            return FastHttpConnection.open(session, self.target, path, headers, 60.0)
        return RawConnection.open(self.target, path, headers, 60.0)

    @staticmethod
    @contextmanager
    def ending(stream: Stream) -> Iterator[None]:
        """However a stream's greenlet leaves, the stream is marked ended and its socket closed; a socket
        error is the stream's error (a figure in the report), not the greenlet's crash."""
        try:
            yield
        except OSError as exc:
            stream.error = type(exc).__name__
        finally:
            stream.ended = True
            if stream.conn is not None:
                stream.conn.close()

    def stream_request(self, stream: Stream) -> tuple[str, dict[str, str]]:
        """The path and headers of ``stream``'s request (uncompressed, so bytes are measured as sent)."""
        return (f"/api/v1/sessions/{stream.session_id}/status/stream",
                {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream",
                 "Accept-Encoding": "identity"})

    def run_stream(self, stream: Stream) -> None:
        path, headers = self.stream_request(stream)
        try:
            with self.ending(stream):
                with self.connect_gate:
                    started = time.perf_counter()
                    try:
                        conn = self._open(path, headers)
                    except ConnectFailed as exc:
                        stream.error = f"connect_{exc.kind}"
                        return
                    if conn.status != 200:
                        stream.error = f"http_{conn.status}"
                        conn.close()
                        return
                    stream.conn = conn
                    # Connected = headers and the snapshot event are in.
                    while not stream.tracker.events:
                        data = conn.read(60.0)
                        if not data:
                            stream.error = "closed_before_snapshot"
                            return
                        stream.chunks.append((time.time(), data))
                        stream.decode()
                    stream.connect_ms = (time.perf_counter() - started) * 1000
                    self.connected += 1
                self.follow(stream, conn)
        finally:
            if stream.error and not stream.connect_ms:
                self.failed += 1

    def follow(self, stream: Stream, conn: Connection) -> None:
        """Read an open stream until the server ends it (after the terminal status)."""
        while True:
            data = conn.read(3600.0)
            if not data:
                stream.decode()
                if not stream.terminal:
                    stream.error = "closed_without_terminal"
                return
            stream.chunks.append((time.time(), data))
            if len(stream.chunks) >= DECODE_EVERY:
                stream.decode()

    def open_all(self) -> dict[str, Any]:
        started = time.perf_counter()
        self.greenlets = [gevent.spawn(self.run_stream, stream) for stream in self.streams]
        total = len(self.streams)
        while self.connected + self.failed < total:
            gevent.sleep(0.05)
        seconds = time.perf_counter() - started
        errors: dict[str, int] = {}
        for stream in self.streams:
            if stream.error:
                errors[stream.error] = errors.get(stream.error, 0) + 1
        return {"event": "connected", "streams": self.connected, "failed": self.failed,
                "seconds": round(seconds, 3), "connect_ms": _distribution([s.connect_ms for s in self.streams
                                                                   if s.connect_ms]), "errors": errors}

    def new_phase(self) -> None:
        for stream in self.streams:
            stream.new_phase()

    def report(self, expected: dict[str, int], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        started = time.perf_counter()

        live = [s for s in self.streams if s.conn is not None and not s.ended]

        def short(exact: bool) -> bool:
            for stream in live:
                got = stream.phase_events
                if not exact:  # a cheap count of event frames in the raw bytes, no parsing
                    got += sum(data.count(b"event: status") for _, data in stream.chunks)
                if got < expected.get(stream.session_id, 0):
                    return True
            return False

        # Decoding waits until every stream seems to have its events, so it does not compete with the
        # reads it measures; then the exact count decides. A full decode every second covers a frame
        # split across two reads (which the cheap count can miss).
        last_full = time.monotonic()
        while time.monotonic() < deadline:
            if not short(exact=False) or time.monotonic() - last_full >= 1.0:
                for stream in live:
                    stream.decode()
                last_full = time.monotonic()
                if not short(exact=True):
                    break
            gevent.sleep(0.02)
        for stream in self.streams:
            stream.decode()
        latencies: list[float] = []
        received = lost = gaps = 0
        for stream in self.streams:
            if stream.conn is None:
                continue
            want = expected.get(stream.session_id, 0)
            received += stream.phase_events
            lost += max(0, want - stream.phase_events)
            gaps += stream.tracker.gaps
            latencies.extend(stream.phase_latencies)
        return {"event": "report", "received": received, "expected": sum(
            expected.get(s.session_id, 0) for s in self.streams if s.conn is not None),
            "lost": lost, "gaps": gaps, "latency_ms": _distribution(latencies),
            "latency_unknown": sum(s.latency_unknown for s in self.streams),
            "waited_s": round(time.perf_counter() - started, 3)}

    def finish(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(s.ended for s in self.streams):
            gevent.sleep(0.05)
        for stream in self.streams:
            stream.decode()
        opened = [s for s in self.streams if s.connect_ms]
        return {"event": "finished", "terminal": sum(s.terminal for s in opened), "streams": len(opened),
                "gaps": sum(s.tracker.gaps for s in opened),
                "duplicates": sum(s.tracker.duplicates for s in opened),
                "errors": sorted({s.error for s in opened if s.error and not s.terminal})}


def _say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--sessions", nargs="+", required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--transport", choices=("raw", "fasthttp"), default="raw")
    parser.add_argument("--connect-concurrency", type=int, default=200)
    args = parser.parse_args()
    raise_fd_limit()
    client = Client(args)
    _say(client.open_all())
    stdin = FileObjectPosix(sys.stdin.fileno(), "rb")
    for raw in stdin:
        line = raw.decode().strip()
        if not line:
            continue
        command, _, rest = line.partition(" ")
        if command in ("burst", "sustain"):
            client.new_phase()
            _say({"event": "ready", "phase": command})
        elif command == "report":
            payload, _, timeout = rest.rpartition(" ")
            _say(client.report(json.loads(payload), float(timeout)))
        elif command == "finish":
            _say(client.finish(float(rest or 30)))
        elif command.startswith("storm_"):  # the storm phase: loadtests/storm_client.py
            from loadtests import storm_client

            _say(storm_client.command(client, command, rest))
        elif command == "quit":
            break
    for stream in client.streams:
        if stream.conn is not None:
            stream.conn.close()


if __name__ == "__main__":
    main()
