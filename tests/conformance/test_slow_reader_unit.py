"""Contract point 7's judgement on hand-made observations, and the parse of what a stalled socket holds:
still counted fails, a final status that got through measured nothing, a cut without it passes."""

from __future__ import annotations

import h11
import pytest

from conformance import CheckOptions
from conformance.catalog import BY_ID
from conformance.model import Outcome
from conformance.observations import Observations
from conformance.options import SetupError
from conformance.slow_reader import SlowReading, has_terminal, judge, parse
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


def test_a_cut_without_the_final_status_passes() -> None:
    result = judge(SlowReading(1.0, counted=True, still_open=False, status_code=200, body_bytes=110_000,
                               released_after_end_s=1.02))
    assert result.outcome is Outcome.PASS
    assert "released 1.02 s after the job's end" in result.message and result.metric is None


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
