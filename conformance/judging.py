"""What every judge shares: the thresholds (named, with the reason for each) and the helpers that build a
result. The judges are split by topic (``checks``: opening, headers, timing, content; ``stream_checks``:
buffering, the end, heartbeat, idle; ``resume_checks``: reconnects); ``conformance.checks`` re-exports
them all."""

from __future__ import annotations

from typing import Any

from conformance.client import Arrival, StreamRecord
from conformance.model import CheckResult, Outcome

# -- thresholds ---------------------------------------------------------------------------------------------

#: Headers and the snapshot should come "at once"; a second is slow, five is broken for a progress UI.
HEADERS_WARN_S, HEADERS_FAIL_S = 1.0, 5.0
#: sse profile: the first byte (headers are not enough: a buffering hop sends them and holds the body)
FIRST_BYTE_WARN_S = 1.0
#: Cloudflare cuts after 100 s without a byte; a heartbeat above 30 s leaves little margin for the others
#: (AWS ALB 60 s, nginx 60 s default).
HEARTBEAT_WARN_S = 30.0
#: --expect-heartbeat-s S allows this much lateness on top of S (timer and scheduling jitter)
HEARTBEAT_TOLERANCE = 0.1
HEARTBEAT_TOLERANCE_MIN_S = 0.5
#: Buffering: an event "held" arrives much closer to its predecessor than it was published
#: (arrival gap < HELD_RATIO x publish gap, for publish gaps of at least HELD_MIN_GAP_S).
HELD_RATIO = 0.2
HELD_MIN_GAP_S = 0.1
#: Relative delay of the latest event against the earliest (clock skew cancels out): a loaded 2-core
#: box adds ~100-200 ms of jitter; a buffer holds events for whole publish intervals.
DELAY_WARN_S, DELAY_FAIL_S = 0.35, 1.0
#: The stream should end at once after the final status; the runner lingers this long to see it.
TERMINAL_LINGER_S = 2.0
#: Without timestamps in the payload (sse profile): a flush is this many events arriving together
#: (within FLUSH_WINDOW_S) after at least FLUSH_SILENCE_S of silence — what a buffer releasing looks like.
FLUSH_EVENTS, FLUSH_WINDOW_S, FLUSH_SILENCE_S = 3, 0.02, 0.5

FIX_BUFFERING = ("disable response buffering on every hop (nginx: proxy_buffering off or the "
                  "X-Accel-Buffering: no header; Cloudflare: no response buffering) and do not compress "
                  "text/event-stream")


def verdict(check_id: str, outcome: Outcome, message: str, metric: float | None = None, /,
       **evidence: Any) -> CheckResult:
    return CheckResult(check_id, outcome, message, evidence, metric)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def not_open(check_id: str, record: StreamRecord) -> CheckResult:
    return verdict(check_id, Outcome.SKIP, f"not measured: the stream {record.describe_failure()} (see stream.open)")


def status_events(record: StreamRecord) -> list[Arrival]:
    """The events that carry a job state (valid or not: stream.payload judges them)."""
    return [a for a in record.events if a.state() is not None]


def int_id(arrival: Arrival) -> int | None:
    event = arrival.event
    if event is None or not event.has_id:
        return None
    text = event.id.strip()
    return int(text) if text.isascii() and text.isdigit() else None
