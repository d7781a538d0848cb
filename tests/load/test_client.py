"""The stream watcher against scripted responses: what a browser-like client must do and count.

No sockets: each scripted ``FakeConnection`` returns its chunks one ``read`` at a time, so every cut,
reconnect, status code and id sequence is exact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from loadtests.accounting import LoadCounters
from loadtests.client import StreamWatcher, WatchOptions
from loadtests.transport import ConnectFailed
from sse_contract.status import StatusUpdate, utc_now
from sse_contract.wire import encode_comment, encode_event, encode_retry

pytestmark = pytest.mark.unit

TIMEOUT = object()  # a read that times out


def status(seq: int, state: str = "processing", age_s: float = 0.0) -> bytes:
    update = StatusUpdate.build(session_id="s", seq=seq, status=state, progress=min(100, seq),
                                timestamp=utc_now() - timedelta(seconds=age_s))
    return encode_event(update.to_json(), event="status", id=seq)


@dataclass
class FakeConnection:
    status: int = 200
    chunks: list[object] = field(default_factory=list)
    ends_cleanly: bool = False
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": "text/event-stream"})
    closed: bool = False

    def read(self, timeout: float) -> bytes:
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if chunk is TIMEOUT:
            raise TimeoutError
        if isinstance(chunk, BaseException):
            raise chunk
        assert isinstance(chunk, bytes)
        return chunk

    def read_all(self, timeout: float, limit: int = 65536) -> bytes:
        return b"".join(c for c in self.chunks if isinstance(c, bytes))[:limit]

    @property
    def complete(self) -> bool:
        return self.ends_cleanly and not self.chunks

    def close(self) -> None:
        self.closed = True


class Script:
    """An opener that hands out scripted responses and records every request's headers."""

    def __init__(self, *responses: FakeConnection | ConnectFailed) -> None:
        self.responses = list(responses)
        self.requests: list[dict[str, str]] = []

    def __call__(self, path: str, headers: Mapping[str, str], timeout: float) -> FakeConnection:
        self.requests.append(dict(headers))
        response = self.responses.pop(0)
        if isinstance(response, ConnectFailed):
            raise response
        return response


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float, BaseException | None]] = []

    def __call__(self, name: str, response_time_ms: float, length: int = 0,
                 exception: BaseException | None = None) -> None:
        self.calls.append((name, response_time_ms, exception))

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def failures(self) -> list[str]:
        return [str(exc) for _, _, exc in self.calls if exc is not None]


def make(script: Script, **options: object) -> tuple[StreamWatcher, Recorder, LoadCounters, list[float]]:
    recorder, counters, slept = Recorder(), LoadCounters(), []
    watcher = StreamWatcher(script, recorder, counters, WatchOptions(**options),  # type: ignore[arg-type]
                            sleep=slept.append)
    return watcher, recorder, counters, slept


def test_a_whole_job_in_one_connection() -> None:
    script = Script(FakeConnection(chunks=[
        encode_retry(2500) + status(1, "pending", age_s=5), status(2), encode_comment("ping") + status(3),
        status(4, "completed"),
    ]))
    watcher, recorder, counters, _ = make(script)
    opened: list[bool] = []
    result = watcher.watch("/stream", {"Authorization": "Bearer t"}, on_open=lambda: opened.append(True) or True)
    assert result.terminal_status == "completed"
    assert result.connections == 1 and result.events == 4
    assert opened == [True]
    assert script.requests[0]["Authorization"] == "Bearer t"
    assert "Last-Event-ID" not in script.requests[0]
    # The snapshot (published before the request) is not a delivery; live events are.
    assert recorder.names() == ["connect", "first_event", "snapshot", "event", "event", "event"]
    assert counters.events_received == 4 and counters.heartbeats == 1
    assert (counters.watches_terminal, counters.watches_open, counters.terminal["completed"]) == (1, 0, 1)
    assert (counters.streams_open, counters.streams_peak, counters.stream_ends["terminal"]) == (0, 1, 1)
    assert counters.gaps == counters.duplicates == 0


def test_a_cut_stream_resumes_with_last_event_id_after_the_servers_retry() -> None:
    script = Script(
        FakeConnection(chunks=[encode_retry(2500) + status(1), status(2)]),  # then EOF: cut
        FakeConnection(chunks=[encode_retry(2500) + status(3), status(4, "completed")]),
    )
    watcher, recorder, counters, slept = make(script)
    result = watcher.watch("/stream", {})
    assert result.terminal_status == "completed" and result.connections == 2
    assert script.requests[1]["Last-Event-ID"] == "2"
    assert slept == [2.5]
    assert counters.reconnects == 1 and counters.gaps == 0 and counters.duplicates == 0
    assert "reconnect" in recorder.names()
    assert counters.stream_ends == {"eof": 1, "terminal": 1}


def test_a_server_that_replays_the_last_event_again_is_caught_as_a_duplicate() -> None:
    script = Script(
        FakeConnection(chunks=[status(1), status(2)]),
        FakeConnection(chunks=[status(2), status(3, "completed")]),
    )
    watcher, _, counters, _ = make(script, reconnect_delay_s=0.0)
    watcher.watch("/stream", {})
    assert counters.duplicates == 1 and counters.gaps == 0


def test_a_server_that_loses_events_over_a_reconnect_is_caught_as_gaps() -> None:
    script = Script(
        FakeConnection(chunks=[status(1), status(2)]),
        FakeConnection(chunks=[status(5), status(6, "completed")]),
    )
    watcher, _, counters, _ = make(script, reconnect_delay_s=0.0)
    watcher.watch("/stream", {})
    assert counters.gaps == 2 and counters.duplicates == 0


def test_429_waits_retry_after_then_retries_and_counts_the_error() -> None:
    script = Script(
        FakeConnection(status=429, headers={"content-type": "application/json", "retry-after": "5"},
                       chunks=[b'{"detail":"too many open streams"}']),
        FakeConnection(chunks=[status(1, "completed")]),
    )
    watcher, recorder, counters, slept = make(script)
    result = watcher.watch("/stream", {})
    assert result.terminal_status == "completed"
    assert counters.errors == {"http_429": 1}
    assert recorder.failures() == ['http_429: {"detail":"too many open streams"}']
    assert 5.0 in slept


def test_404_abandons_the_watch_without_retrying() -> None:
    script = Script(FakeConnection(status=404, headers={"content-type": "application/json"}))
    watcher, _, counters, _ = make(script)
    result = watcher.watch("/stream", {})
    assert result.terminal_status is None
    assert len(script.requests) == 1
    assert counters.errors == {"http_404": 1} and counters.watches_abandoned == 1


def test_204_on_reconnect_means_the_client_already_has_the_final_event() -> None:
    script = Script(FakeConnection(chunks=[status(7)]), FakeConnection(status=204, headers={}))
    watcher, _, counters, _ = make(script, reconnect_delay_s=0.0)
    result = watcher.watch("/stream", {})
    assert result.terminal_status == "finished"
    assert script.requests[1]["Last-Event-ID"] == "7"
    assert counters.watches_terminal == 1 and counters.errors == {}


def test_a_silent_connection_is_dropped_after_the_idle_timeout_and_resumed() -> None:
    script = Script(
        FakeConnection(chunks=[status(1), TIMEOUT]),
        FakeConnection(chunks=[status(2, "completed")]),
    )
    watcher, recorder, counters, _ = make(script, idle_timeout_s=1.0, reconnect_delay_s=0.0)
    result = watcher.watch("/stream", {})
    assert result.terminal_status == "completed"
    assert counters.errors == {"idle_timeout": 1}
    assert recorder.failures() == ["idle_timeout: no data for 1.0s"]
    assert counters.stream_ends["idle_timeout"] == 1
    assert script.requests[1]["Last-Event-ID"] == "1"


def test_refused_connects_are_retried_then_the_watch_is_abandoned() -> None:
    refused = ConnectFailed("refused", "connection refused")
    script = Script(refused, refused, refused)
    watcher, _, counters, _ = make(script, max_failed_attempts=3, reconnect_delay_s=0.0)
    result = watcher.watch("/stream", {})
    assert result.terminal_status is None
    assert counters.errors == {"connect_refused": 3} and counters.watches_abandoned == 1


def test_a_killed_watch_counts_as_interrupted_and_closes_its_stream() -> None:
    class Killed(BaseException):  # what gevent's GreenletExit is: not an Exception
        pass

    conn = FakeConnection(chunks=[status(1), Killed()])
    watcher, _, counters, _ = make(Script(conn))
    with pytest.raises(Killed):
        watcher.watch("/stream", {})
    assert conn.closed
    assert (counters.watches_interrupted, counters.watches_open, counters.streams_open) == (1, 0, 0)
    assert counters.stream_ends == {"interrupted": 1}


def test_an_invalid_status_payload_is_an_error_not_a_crash() -> None:
    script = Script(FakeConnection(chunks=[
        encode_event('{"seq": "x"}', event="status", id=1), status(2, "completed")]))
    watcher, _, counters, _ = make(script)
    assert watcher.watch("/stream", {}).terminal_status == "completed"
    assert counters.errors == {"bad_event": 1}


def test_on_open_returning_false_abandons_the_watch() -> None:
    conn = FakeConnection(chunks=[status(1)])
    watcher, _, counters, _ = make(Script(conn))
    result = watcher.watch("/stream", {}, on_open=lambda: False)
    assert result.terminal_status is None and conn.closed
    assert counters.watches_abandoned == 1 and counters.stream_ends == {"job_not_started": 1}


def test_client_side_cuts_resume_without_loss() -> None:
    """Reconnect storms: the client cuts the stream (a read that times out at the cut deadline)."""
    script = Script(
        FakeConnection(chunks=[status(1), TIMEOUT]),
        FakeConnection(chunks=[status(2), status(3, "completed")]),
    )
    watcher, _, counters, _ = make(script, cut_every_s=30.0, reconnect_delay_s=0.0)
    result = watcher.watch("/stream", {})
    assert result.terminal_status == "completed"
    assert counters.stream_ends == {"client_cut": 1, "terminal": 1}
    assert counters.errors == {}  # a planned cut is not an error (an idle timeout would be)
    assert script.requests[1]["Last-Event-ID"] == "1"
    assert counters.gaps == 0 and counters.reconnects == 1


def test_a_status_without_timestamp_is_counted_with_unknown_latency_never_zero() -> None:
    """Issue 11: statuses without ``timestamp`` reported p50/p99 = 0 ms while the server delayed every event
    by 300 ms (the missing timestamp was filled with the parse time). Now they count, with no latency."""
    def bare(seq: int, state: str = "processing") -> bytes:
        return encode_event(json.dumps({"session_id": "s", "seq": seq, "status": state, "progress": seq}),
                            event="status", id=seq)

    script = Script(FakeConnection(chunks=[bare(1, "pending"), bare(2), bare(3, "completed")]))
    watcher, recorder, counters, _ = make(script)
    result = watcher.watch("/stream", {})
    assert result.terminal_status == "completed"
    assert counters.events_received == 3 and counters.latency_unknown == 3 and counters.snapshots == 1
    assert "event" not in recorder.names() and "snapshot" not in recorder.names()  # no made-up latency
    assert recorder.failures() == []
    assert counters.gaps == counters.duplicates == 0


def test_events_of_every_type_are_counted_by_type() -> None:
    """A server sending ``event: message`` gave ``events_received: 0, errors: 0``: now each type shows."""
    script = Script(FakeConnection(chunks=[
        encode_event("{}", event=None) * 2, encode_event("x", event="stalled"), status(1, "completed"),
    ]))
    watcher, _, counters, _ = make(script)
    watcher.watch("/stream", {})
    assert dict(counters.events_by_type) == {"message": 2, "stalled": 1, "status": 1}
    assert counters.events_received == 1
