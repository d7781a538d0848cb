"""Contract point 7's judgement on hand-made observations, and the parse of what a stalled socket holds:
still counted fails, a final status that got through measured nothing, a connection still open or one
that delivered more than our receive buffer holds fails, a cut carrying the job's statuses passes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import h11
import pytest

from conformance import CheckOptions
from conformance.catalog import BY_ID
from conformance.model import Outcome
from conformance.observations import Observations
from conformance.options import SetupError
from conformance.slow_reader import (
    HELD_MARGIN_B,
    NotMeasured,
    SlowReading,
    has_terminal,
    job_statuses,
    judge,
    parse,
    read_stalled,
)
from sse_contract.status import StatusUpdate
from sse_contract.wire import encode_event

pytestmark = pytest.mark.unit


def frame(seq: int, status: str = "processing") -> bytes:
    update = StatusUpdate.build(session_id="s", seq=seq, status=status, progress=seq, message="m")
    return encode_event(update.to_json(), event="status", id=seq)


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def client() -> h11.Connection:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/s", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    return conn


def test_a_stream_still_counted_fails_naming_point_7() -> None:
    result = judge(SlowReading(1.0, counted=True, still_open=True, stalled_s=4.2))
    assert result.outcome is Outcome.FAIL
    assert "read nothing for 4.2 s is still connected (SSE_SEND_TIMEOUT_S 1)" in result.message
    assert "— 7." in result.message


def test_a_final_status_that_got_through_is_not_measured_not_a_pass() -> None:
    body_bytes = 300_000
    result = judge(SlowReading(1.0, counted=True, still_open=False, status_code=200, body_bytes=body_bytes,
                               terminal_seen=True, released_after_end_s=0.0))
    assert result.outcome is Outcome.SKIP
    assert "the server's buffers held the whole job (293 KB)" in result.message


def cut(**changes: object) -> SlowReading:
    """What the clean contract app's cut looked like (measured: a reset after 1,072 bytes, 2 job statuses)."""
    fields: dict[str, object] = {"counted": True, "still_open": False, "status_code": 200, "body_bytes": 834,
                                 "released_after_end_s": 1.02, "drain_end": "reset", "drained_bytes": 1072,
                                 "rcvbuf_bytes": 2304, "job_statuses": 2, "stalled_s": 1.3}
    return SlowReading(1.0, **{**fields, **changes})  # type: ignore[arg-type]


def test_a_cut_without_the_final_status_passes() -> None:
    result = judge(cut())
    assert result.outcome is Outcome.PASS
    assert "released 1.02 s after the job's end, connection reset" in result.message and result.metric is None
    assert judge(cut(drain_end="eof")).outcome is Outcome.PASS  # an EOF after little data is a cut too


def test_a_connection_still_open_at_the_drain_deadline_fails() -> None:
    result = judge(cut(drain_end="open", drained_bytes=900_000))
    assert result.outcome is Outcome.FAIL
    assert "released from /streams/me but the connection was still open 5 s into the drain" in result.message


def test_a_drain_beyond_our_receive_buffer_means_the_server_held_the_connection() -> None:
    # measured: the contract app that stops writing but leaves the connection open drained ~93 KB, then EOF
    held = 2304 + HELD_MARGIN_B + 1
    result = judge(cut(drain_end="eof", drained_bytes=held, body_bytes=held - 300, job_statuses=409))
    assert result.outcome is Outcome.FAIL
    assert "the connection stayed open holding 18 KB (our receive buffer holds 2.2 KB)" in result.message
    assert "— 7." in result.message
    assert judge(cut(drained_bytes=held - 1)).outcome is Outcome.PASS


def test_a_stream_that_carried_no_job_status_measured_nothing() -> None:
    # e.g. a stream that ended before the job started: the snapshot alone, then EOF
    result = judge(cut(drain_end="eof", body_bytes=250, drained_bytes=400, job_statuses=0))
    assert result.outcome is Outcome.SKIP and "carried no status of the job" in result.message


def test_a_lifetime_within_the_probe_window_may_be_what_ended_it() -> None:
    result = judge(cut(max_lifetime_s=1.0, stalled_s=1.3))
    assert result.outcome is Outcome.SKIP
    assert "--max-lifetime-s 1 is at or below the probe's 1.3 s" in result.message
    assert judge(cut(max_lifetime_s=8.0)).outcome is Outcome.PASS


def test_job_statuses_counts_the_statuses_after_the_snapshot() -> None:
    assert job_statuses(frame(1)) == 0
    assert job_statuses(frame(1) + frame(2) + frame(3)) == 2
    assert job_statuses(b"") == 0


@pytest.fixture
def listener() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers: the stalled stream."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/s"


def test_the_baseline_waits_for_the_count_to_settle_and_a_refused_job_is_not_measured(listener: str) -> None:
    # other phases' streams drop out (3, then 2, 2); our stream makes it 3: counted against the settled 2
    counts = iter([3, 2, 2, 3])
    started: list[bool] = []

    async def open_count() -> int | None:
        return next(counts)

    async def start_job() -> None:
        started.append(True)
        raise NotMeasured("the target refused a 5,000-status job (POST .../transcribe answered 422: too long)")

    async def job_ended() -> bool:
        raise AssertionError("never reached")

    seen = asyncio.run(read_stalled(listener, {}, True, 1.0, start_job=start_job, job_ended=job_ended,
                                    open_count=open_count, job_window_s=1.0))
    assert seen.counted and started == [True]
    result = judge(seen)
    assert result.outcome is Outcome.SKIP
    assert "not measured: the target refused a 5,000-status job (POST .../transcribe answered 422" in result.message


def test_a_network_error_while_the_job_runs_is_a_skip_with_its_cause(listener: str) -> None:
    counts = iter([0, 0, 1])

    async def open_count() -> int | None:
        return next(counts)

    async def start_job() -> None:
        return None

    async def job_ended() -> bool:
        raise NotMeasured("GET http://x/status failed while the job ran: ConnectError: refused")

    seen = asyncio.run(read_stalled(listener, {}, True, 1.0, start_job=start_job, job_ended=job_ended,
                                    open_count=open_count, job_window_s=1.0))
    result = judge(seen)
    assert result.outcome is Outcome.SKIP and "ConnectError: refused" in result.message


@pytest.mark.parametrize(("seen", "outcome", "words"), [
    (SlowReading(1.0, reason="the job did not end within 15 s"), Outcome.SKIP, "the job did not end"),
    (SlowReading(1.0, counted=True, still_open=False), Outcome.SKIP, "held no response"),
    (SlowReading(1.0, counted=True, still_open=False, status_code=404), Outcome.FAIL, "answered 404"),
])
def test_no_evidence_is_never_a_pass(seen: SlowReading, outcome: Outcome, words: str) -> None:
    result = judge(seen)
    assert result.outcome is outcome and words in result.message


def test_opt_in_and_declared_once() -> None:
    check = BY_ID["stream.slow-reader"]
    assert check.profiles == frozenset({"contract"}) and check.phase == "slow"
    skipped = check.judge(Observations(), CheckOptions("http://x"))
    assert skipped.outcome is Outcome.SKIP and "opt-in (--send-timeout-s S)" in skipped.message
    with pytest.raises(SetupError, match="--send-timeout-s must be"):
        CheckOptions("http://x", dev_login="u", send_timeout_s=0).validate()


def test_the_parse_sees_a_cut_mid_body_and_a_complete_stream() -> None:
    cut = HEAD + chunked(frame(1), frame(2)) + b"1f\r\nevent: sta"  # reset in the middle of a chunk
    status, body = parse(client(), cut, ended=True)
    assert status == 200 and body.startswith(b"id: 1\nevent: status") and not has_terminal(body)
    whole = HEAD + chunked(frame(1), frame(2, "completed")) + b"0\r\n\r\n"
    status, body = parse(client(), whole, ended=True)
    assert status == 200 and has_terminal(body)
    assert parse(client(), b"", ended=True) == (None, b"")
