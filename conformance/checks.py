"""The checks: pure judgements over what the runner observed, one function per check.

No I/O here: each function takes recordings (``StreamRecord``) or probe outcomes (``Probe``) and returns a
``CheckResult``. That keeps every rule testable with hand-made recordings, and keeps the thresholds in
one place, named, with the reason for each.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from conformance.client import Arrival, StreamRecord
from conformance.model import CheckResult, Outcome
from conformance.options import CLOUDFLARE_IDLE_S
from sse_contract.status import StatusUpdate
from sse_contract.wire import Comment

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

_FIX_BUFFERING = ("disable response buffering on every hop (nginx: proxy_buffering off or the "
                  "X-Accel-Buffering: no header; Cloudflare: no response buffering) and do not compress "
                  "text/event-stream")


def _r(check_id: str, outcome: Outcome, message: str, metric: float | None = None, /,
       **evidence: Any) -> CheckResult:
    return CheckResult(check_id, outcome, message, evidence, metric)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _not_open(check_id: str, record: StreamRecord) -> CheckResult:
    return _r(check_id, Outcome.SKIP, f"not measured: the stream {record.describe_failure()} (see stream.open)")


def status_events(record: StreamRecord) -> list[Arrival]:
    """The events that carry a job state (valid or not: stream.payload judges them)."""
    return [a for a in record.events if a.state() is not None]


def int_id(arrival: Arrival) -> int | None:
    event = arrival.event
    if event is None or not event.has_id:
        return None
    text = event.id.strip()
    return int(text) if text.isascii() and text.isdigit() else None


# -- opening and headers ------------------------------------------------------------------------------------

def stream_open(record: StreamRecord) -> CheckResult:
    evidence = {"status": record.status, "http_version": record.http_version, "error": record.error,
                "body": record.body_excerpt[:200]}
    if record.opened:
        return _r("stream.open", Outcome.PASS, f"200 over {record.http_version}", **evidence)
    if record.status is None:
        return _r("stream.open", Outcome.FAIL, f"no response ({record.error}): check the URL, TLS and that "
                  "the origin is up", **evidence)
    hint = {
        401: "the credentials were not accepted (an intermediary may strip Cookie/Authorization)",
        404: "wrong URL or session (or an intermediary rewrote the path)",
        429: "per-user stream cap reached: close other streams",
        502: "the intermediary could not reach the origin", 503: "origin or intermediary unavailable",
        524: "Cloudflare timed out waiting for the origin's first byte (100 s)",
    }.get(record.status, "the stream endpoint must answer 200 with text/event-stream")
    return _r("stream.open", Outcome.FAIL, f"stream {record.describe_failure()}: {hint}", **evidence)


def content_type(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return _not_open("headers.content-type", record)
    value = record.headers.get("content-type", "")
    mime = value.split(";")[0].strip().lower()
    if mime == "text/event-stream":
        return _r("headers.content-type", Outcome.PASS, value, content_type=value)
    return _r("headers.content-type", Outcome.FAIL,
              f"Content-Type is {value or 'missing'!r}: a browser EventSource fails the connection for good; "
              "send text/event-stream; charset=utf-8", content_type=value)


def cache_control(record: StreamRecord, required: bool = True) -> CheckResult:
    """The contract requires ``no-cache, no-transform``; elsewhere a missing no-transform is advice."""
    if not record.opened:
        return _not_open("headers.cache-control", record)
    value = record.headers.get("cache-control", "")
    tokens = {t.strip().split("=")[0].lower() for t in value.split(",") if t.strip()}
    if not tokens & {"no-cache", "no-store"}:
        return _r("headers.cache-control", Outcome.FAIL,
                  f"Cache-Control is {value or 'missing'!r}: a cache may store or coalesce the stream; "
                  "send Cache-Control: no-cache, no-transform", cache_control=value)
    if "no-transform" not in tokens:
        return _r("headers.cache-control", Outcome.FAIL if required else Outcome.WARN,
                  f"Cache-Control {value!r} lacks no-transform: intermediaries may re-encode (compress) the "
                  "stream; add no-transform", cache_control=value)
    return _r("headers.cache-control", Outcome.PASS, value, cache_control=value)


def content_encoding(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return _not_open("headers.content-encoding", record)
    value = record.headers.get("content-encoding", "")
    offered = record.request_headers.get("Accept-Encoding", "")
    if value and value.lower() != "identity":
        return _r("headers.content-encoding", Outcome.FAIL,
                  f"the stream is compressed (Content-Encoding: {value}): compression holds events until a "
                  "block fills; do not compress text/event-stream (nginx: drop it from gzip_types; origin: "
                  "exclude it from GZip middleware) and send no-transform", content_encoding=value,
                  accept_encoding=offered)
    return _r("headers.content-encoding", Outcome.PASS, f"not compressed although {offered!r} was offered",
              accept_encoding=offered)


def content_length(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return _not_open("headers.content-length", record)
    value = record.headers.get("content-length")
    if value is not None:
        return _r("headers.content-length", Outcome.FAIL,
                  f"Content-Length: {value} on an endless stream: clients stop reading after that many bytes; "
                  "stream the body without a length (chunked / HTTP/2 DATA frames)", content_length=value)
    return _r("headers.content-length", Outcome.PASS, "absent",
              transfer_encoding=record.headers.get("transfer-encoding"))


def x_accel_buffering(record: StreamRecord, required: bool = True) -> CheckResult:
    if not record.opened:
        return _not_open("headers.x-accel-buffering", record)
    value = record.headers.get("x-accel-buffering")
    server = record.headers.get("server", "")
    if value is None and "nginx" in server.lower():
        # nginx acts on the header and does not pass it on: its absence here says nothing about the origin
        return _r("headers.x-accel-buffering", Outcome.PASS, f"consumed by the nginx in front (Server: {server}); "
                  "stream.not-buffered shows whether it buffers", server=server)
    if value is None:
        return _r("headers.x-accel-buffering", Outcome.FAIL if required else Outcome.WARN,
                  "no X-Accel-Buffering header: an nginx in front buffers the stream by default; send "
                  "X-Accel-Buffering: no (or set proxy_buffering off there)")
    if value.strip().lower() != "no":
        return _r("headers.x-accel-buffering", Outcome.FAIL,
                  f"X-Accel-Buffering: {value} asks nginx to buffer the stream; send X-Accel-Buffering: no",
                  x_accel_buffering=value)
    return _r("headers.x-accel-buffering", Outcome.PASS, "no", x_accel_buffering=value)


def connection_h2(record: StreamRecord) -> CheckResult:
    error = record.error or ""
    if "connection-specific header" in error.lower():  # h2's own words for a Connection header on HTTP/2
        return _r("headers.connection-h2", Outcome.FAIL,
                  f"the HTTP/2 response was rejected ({error}): HTTP/2 forbids the Connection header "
                  "(RFC 9113 8.2.2); stop setting Connection/Keep-Alive on the response", error=error)
    if not record.opened:
        return _not_open("headers.connection-h2", record)
    if record.http_version != "HTTP/2":
        return _r("headers.connection-h2", Outcome.SKIP,
                  f"{record.http_version} was negotiated: checked only on HTTP/2 (https targets offer it)",
                  http_version=record.http_version)
    if "connection" in record.headers:
        return _r("headers.connection-h2", Outcome.FAIL,
                  f"Connection: {record.headers['connection']} on HTTP/2: forbidden (RFC 9113 8.2.2), some "
                  "clients reject the response; do not set it", http_version=record.http_version)
    return _r("headers.connection-h2", Outcome.PASS, "HTTP/2 without a Connection header",
              http_version=record.http_version)


# -- timing -------------------------------------------------------------------------------------------------

def time_to_headers(record: StreamRecord) -> CheckResult:
    if not record.opened or record.t_headers is None:
        return _not_open("timing.headers", record)
    t = record.t_headers
    evidence = {"ms": _ms(t), "http_version": record.http_version}
    if t >= HEADERS_FAIL_S:
        return _r("timing.headers", Outcome.FAIL, f"headers after {t * 1000:.0f} ms: send the response "
                  "headers before waiting for any event", _ms(t), **evidence)
    if t >= HEADERS_WARN_S:
        return _r("timing.headers", Outcome.WARN, f"headers after {t * 1000:.0f} ms (slow): send them at once",
                  _ms(t), **evidence)
    return _r("timing.headers", Outcome.PASS, f"{t * 1000:.0f} ms", _ms(t), **evidence)


def time_to_first_event(records: Sequence[StreamRecord | None], budget_s: float) -> CheckResult:
    """The first event is the snapshot, sent at once (contract, "At once"); judged on every fresh stream.

    A late first event is reported as late: the buffering verdict belongs to stream.not-buffered, which
    judges the events published later."""
    opened = [r for r in records if r is not None and r.opened]
    if not opened:
        failed = next((r for r in records if r is not None), None)
        return _not_open("timing.first-event", failed) if failed else _r(
            "timing.first-event", Outcome.SKIP, "not measured: no stream was opened")
    times = [r.t_first_event for r in opened]
    after_headers = [None if t is None or r.t_headers is None else t - r.t_headers
                     for r, t in zip(opened, times, strict=True)]
    missing = [r for r, t in zip(opened, times, strict=True) if t is None]
    worst = max((t for t in times if t is not None), default=None)
    evidence = {"ms": [_ms(t) for t in times], "after_headers_ms": [_ms(t) for t in after_headers],
                "budget_ms": _ms(budget_s), "windows_s": [round(r.t_end, 2) for r in opened]}
    if missing:
        r = missing[0]
        return _r("timing.first-event", Outcome.FAIL,
                  f"no event at all within {r.t_end:.1f} s of opening the stream: the current state must be "
                  f"sent at once; if the origin does, an intermediary holds the stream — {_FIX_BUFFERING}",
                  None, **evidence)
    assert worst is not None
    if worst > budget_s:
        late = max((t for t in after_headers if t is not None), default=0.0)
        return _r("timing.first-event", Outcome.FAIL,
                  f"first event late: {worst * 1000:.0f} ms after the request ({late * 1000:.0f} ms after the "
                  f"headers), budget {budget_s * 1000:.0f} ms: send retry: and the snapshot right after the "
                  "headers, before waiting for anything", _ms(worst), **evidence)
    return _r("timing.first-event", Outcome.PASS, f"{worst * 1000:.0f} ms (budget {budget_s * 1000:.0f} ms)",
              _ms(worst), **evidence)


def time_to_first_byte(record: StreamRecord) -> CheckResult:
    """sse profile: a stream whose first body byte never arrives is held by something (or hung)."""
    if not record.opened:
        return _not_open("timing.first-byte", record)
    first = record.chunks[0][0] if record.chunks else None
    evidence = {"ms": _ms(first), "headers_ms": _ms(record.t_headers), "window_s": round(record.t_end, 2)}
    if first is None:
        return _r("timing.first-byte", Outcome.FAIL,
                  f"headers arrived but no body byte within {record.t_end:.1f} s: a browser sees nothing; if the "
                  f"server wrote something, a hop holds it — {_FIX_BUFFERING}", None, **evidence)
    if first >= FIRST_BYTE_WARN_S:
        return _r("timing.first-byte", Outcome.WARN, f"first byte after {first * 1000:.0f} ms: send a comment "
                  "or retry: at once so clients (and proxies) see the stream is alive", _ms(first), **evidence)
    return _r("timing.first-byte", Outcome.PASS, f"{first * 1000:.0f} ms", _ms(first), **evidence)


def http_version(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return _not_open("stream.http-version", record)
    version = record.http_version or "?"
    if version == "HTTP/1.0":
        return _r("stream.http-version", Outcome.WARN, "HTTP/1.0: no chunked encoding, no keep-alive; serve "
                  "HTTP/1.1 or HTTP/2", http_version=version)
    note = "" if version == "HTTP/2" else " (browsers allow 6 such connections per host across tabs; HTTP/2 lifts it)"
    return _r("stream.http-version", Outcome.PASS, f"{version}{note}", http_version=version)


# -- stream content ------------------------------------------------------------------------------------------

def retry_field(record: StreamRecord, required: bool = True) -> CheckResult:
    """Required by the contract ("At once: a retry: field"); good practice for any other stream."""
    if not record.opened:
        return _not_open("stream.retry", record)
    retries = record.retries
    if not retries:
        return _r("stream.retry", Outcome.FAIL if required else Outcome.WARN,
                  "no retry: field: browsers pick their own reconnect delay (Chrome 3 s, Firefox 5 s, all clients "
                  "at once after a deploy); send retry: <ms> first")
    first_event = record.t_first_event
    value = retries[0].item.milliseconds  # type: ignore[union-attr]
    before = first_event is None or retries[0].t <= first_event
    return _r("stream.retry", Outcome.PASS, f"retry: {value} ms" + ("" if before else " (after the first event)"),
              retry_ms=value)


def event_ids(record: StreamRecord, contract: bool = True) -> CheckResult:
    """Contract: an id on every event, +1 per status, never a gap nor a duplicate on the live stream (our
    reader is fast, so no progress update may coalesce). Any stream: ids, when present, increase."""
    if not record.opened:
        return _not_open("stream.ids", record)
    events = [a for a in record.events if a.event is not None and a.event.event not in ("reset", "stalled")]
    if not events:
        return _r("stream.ids", Outcome.SKIP, "not measured: no event arrived")
    soft = Outcome.FAIL if contract else Outcome.WARN
    without = [i for i, a in enumerate(events) if not a.event or not a.event.has_id]
    ids = [int_id(a) for a in events]
    evidence: dict[str, Any] = {"events": len(events), "ids": [a.event.id if a.event else None for a in events][:50]}
    if without:
        return _r("stream.ids", soft,
                  f"{len(without)} of {len(events)} events carry no id: a reconnecting browser cannot resume "
                  "(Last-Event-ID) and loses what was published meanwhile; send id: <seq> on every event",
                  **evidence)
    numeric = [i for i in ids if i is not None]
    if len(numeric) != len(ids):
        texts = [a.event.id for a in events if a.event]
        if len(set(texts)) != len(texts):
            return _r("stream.ids", soft, "repeated ids: ids must be unique and increasing", **evidence)
        return _r("stream.ids", soft, "ids are not integers: cannot verify they increase; the contract's ids "
                  "are the status seq", **evidence)
    backwards = [(a, b) for a, b in itertools.pairwise(numeric) if b <= a]
    if backwards:
        a, b = backwards[0]
        what = "a duplicate" if a == b else "out of order"
        return _r("stream.ids", soft, f"ids do not strictly increase ({a} then {b}, {what} on the live stream): "
                  "number events per session with an atomic counter and send each once", **evidence)
    steps = [b - a for a, b in itertools.pairwise(numeric)]
    gaps = [(a, b) for a, b in itertools.pairwise(numeric) if b != a + 1]
    if gaps and contract:
        if len(steps) >= 2 and len(set(steps)) == 1:
            return _r("stream.ids", Outcome.FAIL, f"ids jump by {steps[0]} ({numeric[0]}, {numeric[1]}, ...): seq "
                      "must increase by exactly 1 per session, or a resuming client sees a gap that is not "
                      "one", gaps=gaps[:10], **evidence)
        lost = sum(b - a - 1 for a, b in gaps)
        return _r("stream.ids", Outcome.FAIL, f"{lost} status(es) lost on the live stream ({gaps[0][0]} -> "
                  f"{gaps[0][1]}, {len(gaps)} gaps) although this client read at once: deliver every status "
                  "to every open stream (a missed publish is not recovered by a replay)", gaps=gaps[:10],
                  **evidence)
    if gaps:
        return _r("stream.ids", Outcome.PASS, f"{len(events)} events, ids {numeric[0]}..{numeric[-1]} increasing "
                  f"({len(gaps)} skips)", gaps=gaps[:10], **evidence)
    return _r("stream.ids", Outcome.PASS, f"{len(events)} events, ids {numeric[0]}..{numeric[-1]} by 1", **evidence)


def _status_problem(data: str) -> str | None:
    """Why ``data`` is not a status (the fields that are missing or wrong), or None when it is one."""
    try:
        StatusUpdate.from_json(data)
    except ValidationError as exc:
        parts = []
        for error in exc.errors()[:4]:
            where = ".".join(str(x) for x in error["loc"]) or "body"
            parts.append(f"{where} missing" if error["type"] == "missing" else f"{where}: {error['msg']}")
        return "; ".join(parts)
    except ValueError as exc:
        return str(exc).splitlines()[0]
    return None


def payloads(record: StreamRecord) -> CheckResult:
    """Every status as received: all core fields present (timestamp too: no parser fills it in),
    ``event: status``, and ``id`` equal to the payload's seq."""
    if not record.opened:
        return _not_open("stream.payload", record)
    events = [a for a in record.events if a.event is not None and a.event.event not in ("reset", "stalled")]
    if not events:
        return _r("stream.payload", Outcome.SKIP, "not measured: no event arrived")
    problems = [(a, _status_problem(a.event.data)) for a in events if a.event]
    bad = [(a, why) for a, why in problems if why]
    types = sorted({a.event.event for a in events if a.event})
    if bad:
        sample = bad[0][0].event.data[:120] if bad[0][0].event else ""
        return _r("stream.payload", Outcome.FAIL,
                  f"{len(bad)} of {len(events)} events are not a status ({bad[0][1]}), e.g. {sample!r}: every "
                  "status carries session_id, seq, status, progress, message and timestamp", sample=sample,
                  problem=bad[0][1], event_types=types)
    mismatched = [a for a in events if int_id(a) is not None and a.status() is not None
                  and a.status().seq != int_id(a)]  # type: ignore[union-attr]
    if mismatched:
        return _r("stream.payload", Outcome.FAIL, "the id of an event differs from its payload's seq: send id: <seq> "
                  "so Last-Event-ID means the same thing everywhere", event_types=types)
    if types != ["status"]:
        return _r("stream.payload", Outcome.FAIL, f"event types {types}: statuses go as 'event: status' (a client "
                  "listening for 'status' never sees 'message' events)", event_types=types)
    return _r("stream.payload", Outcome.PASS, f"{len(events)} valid status events", event_types=types)


def _published(arrival: Arrival) -> datetime | None:
    """When the payload says it was published: a status timestamp, or a JSON ``timestamp``/``time``/``ts``."""
    update = arrival.status()
    if update is not None:
        return update.timestamp
    return None


def not_buffered(record: StreamRecord, contract: bool = True) -> CheckResult:
    """Events the server spaces out must arrive spaced out. With a publish timestamp in each payload
    (contract): compare arrival with publication. Without (any stream): look for flushes — several
    events at once after a silence — in the arrival times alone."""
    if not record.opened:
        return _not_open("stream.not-buffered", record)
    if not contract and any(_published(a) is None for a in record.events):
        return _flushes(record)
    # the first event is the snapshot of a state published before the connection: not a live sample;
    # so are events that came in the same read as it (a backlog behind a late first event, which
    # timing.first-event reports as late)
    events = status_events(record)
    if not events:
        return _r("stream.not-buffered", Outcome.SKIP, "not measured: no status event arrived")
    first_t = events[0].t
    live = [a for a in events[1:] if a.t - first_t > FLUSH_WINDOW_S or not contract]
    if len(live) < 3 <= len(events) - 1:
        live = events[1:]  # everything came with the first event: that is the buffer, not a backlog
    undated = [a for a in live if a.status() is None]
    if undated:
        return _r("stream.not-buffered", Outcome.SKIP, f"not measured: {len(undated)} events carry no valid "
                  "timestamp to compare arrival with (see stream.payload)")
    if len(live) < 3:
        return _r("stream.not-buffered", Outcome.SKIP,
                  f"not measured: {len(live)} live events arrived (need 3; the job may not have run)")
    published = [a.status().timestamp.timestamp() for a in live]  # type: ignore[union-attr]
    arrived = [a.wall.timestamp() for a in live]
    span_published = published[-1] - published[0]
    if span_published < 0.5:
        return _r("stream.not-buffered", Outcome.SKIP,
                  f"not measured: the events were published within {span_published * 1000:.0f} ms")
    lags = [a - p for a, p in zip(arrived, published, strict=True)]
    base = min(lags)
    delays = [lag - base for lag in lags]
    max_delay = max(delays)
    held = 0
    considered = 0
    for i in range(1, len(live)):
        gap_published = published[i] - published[i - 1]
        if gap_published < HELD_MIN_GAP_S:
            continue
        considered += 1
        if arrived[i] - arrived[i - 1] < HELD_RATIO * gap_published:
            held += 1
    held_fraction = held / considered if considered else 0.0
    t_last = live[-1].t
    at_end = sum(1 for a in live if t_last - a.t <= 0.1)
    bursts = 1 + sum(1 for i in range(1, len(live)) if live[i].t - live[i - 1].t > 0.05)
    evidence = {
        "events": len(live), "published_span_ms": _ms(span_published),
        "arrival_span_ms": _ms(live[-1].t - live[0].t), "max_delay_ms": _ms(max_delay),
        "median_delay_ms": _ms(statistics.median(delays)), "held_fraction": round(held_fraction, 2),
        "bursts": bursts, "content_encoding": record.headers.get("content-encoding"),
        "delays_ms": [_ms(d) for d in delays][:50],
    }
    compressed = record.headers.get("content-encoding")
    why = f" (the stream is {compressed}-compressed: compression holds events)" if compressed else ""
    buffered = held_fraction >= 0.5 or max_delay >= DELAY_FAIL_S
    if buffered:
        if at_end >= 0.8 * len(live):
            what = (f"all {len(live)} events arrived in one burst at the end, {max_delay * 1000:.0f} ms after the "
                    "first was published: the stream is buffered until it ends")
        else:
            what = (f"events arrived in {bursts} bursts, up to {max_delay * 1000:.0f} ms late: the stream is "
                    "buffered (a buffer flushes when it fills)")
        return _r("stream.not-buffered", Outcome.FAIL, f"{what}{why}; {_FIX_BUFFERING}", _ms(max_delay), **evidence)
    if held_fraction >= 0.25 or max_delay >= DELAY_WARN_S:
        return _r("stream.not-buffered", Outcome.WARN,
                  f"some events arrived late (up to {max_delay * 1000:.0f} ms) or bunched{why}: possible "
                  "partial buffering or an overloaded hop", _ms(max_delay), **evidence)
    return _r("stream.not-buffered", Outcome.PASS,
              f"{len(live)} events arrived as published (max extra delay {max_delay * 1000:.0f} ms)",
              _ms(max_delay), **evidence)


def _flushes(record: StreamRecord) -> CheckResult:
    events = record.events
    compressed = record.headers.get("content-encoding")
    why = f" (the stream is {compressed}-compressed: compression holds events)" if compressed else ""
    if len(events) < FLUSH_EVENTS + 1:
        if compressed and record.end == "closed" and events:
            return _r("stream.not-buffered", Outcome.FAIL, f"all {len(events)} events came at the end{why}; "
                      f"{_FIX_BUFFERING}", events=len(events))
        return _r("stream.not-buffered", Outcome.SKIP, f"not measured: {len(events)} events arrived (need "
                  f"{FLUSH_EVENTS + 1}; use --trigger-cmd to make events happen, or a longer --idle-s)")
    # group arrivals: a group is events within FLUSH_WINDOW_S of the previous one
    groups: list[list[Arrival]] = [[events[0]]]
    for prev, cur in itertools.pairwise(events):
        if cur.t - prev.t <= FLUSH_WINDOW_S:
            groups[-1].append(cur)
        else:
            groups.append([cur])
    flushes = []
    previous_end = record.t_headers or 0.0
    for group in groups:
        if len(group) >= FLUSH_EVENTS and group[0].t - previous_end >= FLUSH_SILENCE_S:
            flushes.append(group)
        previous_end = group[-1].t
    flushed = sum(len(g) for g in flushes)
    evidence = {"events": len(events), "groups": len(groups), "flushes": len(flushes), "flushed_events": flushed,
                "arrival_ms": [_ms(a.t) for a in events][:50], "content_encoding": compressed}
    if flushes and (flushed >= 0.5 * len(events) or len(flushes) >= 2):
        return _r("stream.not-buffered", Outcome.FAIL,
                  f"{flushed} of {len(events)} events arrived in {len(flushes)} burst(s) of several at once after "
                  f"a silence: the stream is buffered{why}; {_FIX_BUFFERING}", None, **evidence)
    if flushes:
        return _r("stream.not-buffered", Outcome.WARN, f"one burst of {flushed} events at once after a silence"
                  f"{why}: a buffer, or the server sends them together", None, **evidence)
    return _r("stream.not-buffered", Outcome.PASS, f"{len(events)} events in {len(groups)} separate arrivals, no "
              "burst after a silence", None, **evidence)


def terminal_close(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return _not_open("stream.terminal-close", record)
    final = record.terminal_event()
    if final is None:
        if record.end == "cut":
            return _r("stream.terminal-close", Outcome.FAIL, f"the stream was cut after {record.t_end:.1f} s "
                      f"before the final status ({record.error})", error=record.error)
        return _r("stream.terminal-close", Outcome.FAIL,
                  f"no final status within {record.t_end:.1f} s of starting the job (did the job run?)",
                  end=record.end)
    after = record.t_end - final.t
    if record.end == "closed":
        return _r("stream.terminal-close", Outcome.PASS, f"ended {after * 1000:.0f} ms after the final status",
                  close_after_ms=_ms(after))
    if record.end == "cut":
        return _r("stream.terminal-close", Outcome.WARN, "the connection broke instead of ending cleanly after "
                  f"the final status ({record.error})", error=record.error)
    return _r("stream.terminal-close", Outcome.FAIL,
              f"still open {after:.1f} s after the final status: end the response after completed/failed, or "
              "clients hold the connection (and browsers reconnect) forever", open_after_s=round(after, 2))


# -- idle -----------------------------------------------------------------------------------------------------

def _silences(record: StreamRecord) -> list[float]:
    marks = [record.t_headers or 0.0, *(t for t, _ in record.chunks)]
    if record.end in ("window", "stopped"):
        marks.append(record.t_end)
    return [b - a for a, b in itertools.pairwise(marks)]


def heartbeat_warn_s(limit_s: float) -> float:
    """Warn above 30 s, or above 30 % of a stricter intermediary's idle limit."""
    return min(HEARTBEAT_WARN_S, 0.3 * limit_s)


def heartbeat_allowed_s(limit_s: float, expect_s: float | None) -> float:
    """The longest silence that still passes: ``--expect-heartbeat-s`` plus jitter, else the idle limit."""
    if expect_s is None:
        return limit_s
    return min(limit_s, expect_s + max(HEARTBEAT_TOLERANCE_MIN_S, HEARTBEAT_TOLERANCE * expect_s))


def heartbeat(record: StreamRecord | None, limit_s: float = CLOUDFLARE_IDLE_S,
              expect_s: float | None = None) -> CheckResult:
    """The idle stream was held until its next byte after the idle window, or until ``limit_s`` (or
    ``--expect-heartbeat-s``) of silence: the longest silence is what an intermediary would have seen."""
    if record is None:
        return _r("heartbeat.interval", Outcome.SKIP, "not measured: no idle stream")
    if not record.opened:
        return _not_open("heartbeat.interval", record)
    beats = [a.t for a in record.comments]
    silences = _silences(record)
    longest = max(silences, default=0.0)
    allowed = heartbeat_allowed_s(limit_s, expect_s)
    texts = sorted({a.item.text for a in record.comments if isinstance(a.item, Comment)})[:3]
    evidence: dict[str, Any] = {"heartbeats": len(beats), "window_s": round(record.t_end, 2), "end": record.end,
                                "longest_silence_s": round(longest, 2), "idle_limit_s": limit_s,
                                "expect_heartbeat_s": expect_s, "texts": texts}
    if longest >= allowed:
        if expect_s is not None and allowed < limit_s:
            return _r("heartbeat.interval", Outcome.FAIL,
                      f"no heartbeat: {longest:.1f} s without a byte, slower than --expect-heartbeat-s "
                      f"{expect_s:g}: send a comment (': ping') at least that often", round(longest, 2),
                      **evidence)
        return _r("heartbeat.interval", Outcome.FAIL,
                  f"no heartbeat: {longest:.1f} s without a byte; an intermediary with a {limit_s:g} s idle limit "
                  "(Cloudflare 100 s -> 524 or a cut, nginx 60 s) ends the stream; send a comment (': ping') "
                  "every 15 s while idle", round(longest, 2), **evidence)
    if record.end in ("closed", "cut"):
        return _r("heartbeat.interval", Outcome.SKIP,
                  f"not measured: the stream {record.end} after {record.t_end:.1f} s, before a silence of "
                  f"{allowed:g} s could be seen (see idle.survival)", None, **evidence)
    warn_s = heartbeat_warn_s(limit_s)
    if longest > warn_s:
        return _r("heartbeat.interval", Outcome.WARN, f"a silence of {longest:.1f} s: close to proxy idle "
                  f"timeouts (nginx 60 s, Cloudflare 100 s); send a heartbeat at least every {warn_s:g} s "
                  "(15 s is usual)", round(longest, 2), **evidence)
    return _r("heartbeat.interval", Outcome.PASS,
              f"longest silence {longest:.1f} s ({len(beats)} heartbeat comment(s), limit {allowed:g} s)",
              round(longest, 2), **evidence)


def idle_survival(record: StreamRecord | None, idle_s: float) -> CheckResult:
    if record is None:
        return _r("idle.survival", Outcome.SKIP, "not measured: no idle stream")
    evidence: dict[str, Any] = {"window_s": idle_s, "open_s": round(record.t_end, 2), "end": record.end,
                                "status": record.status, "error": record.error,
                                "last_byte_s": round(record.t_last_byte, 2) if record.t_last_byte else None}
    if not record.opened:
        return _r("idle.survival", Outcome.FAIL, f"the idle stream {record.describe_failure()}"
                  + (": Cloudflare gave up waiting for the origin's first byte" if record.status == 524 else ""),
                  **evidence)
    final = record.terminal_event()
    if final is not None:
        return _r("idle.survival", Outcome.SKIP, "not measured: the session is finished, its stream ends by design")
    if record.end == "cut":
        last = record.t_last_byte or record.t_headers or 0.0
        return _r("idle.survival", Outcome.FAIL,
                  f"cut after {record.t_end:.1f} s, {record.t_end - last:.1f} s after the last byte: an "
                  "intermediary's idle timeout; send heartbeats more often than that", round(record.t_end, 2),
                  **evidence)
    if record.end == "closed":
        return _r("idle.survival", Outcome.WARN,
                  f"ended cleanly after {record.t_end:.1f} s of {idle_s:g} s without a final status: a server "
                  "lifetime (SSE_CONNECTION_TIMEOUT) or an intermediary; browsers reconnect, resume must work",
                  round(record.t_end, 2), **evidence)
    if not record.events:
        return _r("idle.survival", Outcome.FAIL,
                  f"open for {idle_s:g} s but nothing arrived, not even the current state: an intermediary "
                  f"holds the stream; {_FIX_BUFFERING}", round(record.t_end, 2), **evidence)
    return _r("idle.survival", Outcome.PASS,
              f"open for {record.t_end:.1f} s with only {len(record.comments)} heartbeat comment(s)",
              round(record.t_end, 2), **evidence)


# -- resume ---------------------------------------------------------------------------------------------------

def resume(kind: str, first: StreamRecord, second: StreamRecord | None, last_id: int | None) -> CheckResult:
    check_id = f"resume.{kind}"
    how = f"Last-Event-ID: {last_id}" if kind == "header" else f"?lastEventId={last_id}"
    if not first.opened:
        return _not_open(check_id, first)
    if last_id is None:
        return _r(check_id, Outcome.FAIL, "the first stream gave no event id to resume from: send id: on every "
                  "event", first_events=len(first.events))
    if first.terminal_event() is not None:
        return _r(check_id, Outcome.SKIP, "not measured: the first stream got the job's events only at the end "
                  "(buffered? see stream.not-buffered), so it could not be interrupted mid-job")
    if second is None:
        return _r(check_id, Outcome.SKIP, "not measured: no reconnect made")
    first_ids = [i for i in map(int_id, status_events(first)) if i is not None]
    evidence: dict[str, Any] = {"last_event_id": last_id, "first_ids": first_ids, "status": second.status}
    if first_ids != list(range(first_ids[0], first_ids[0] + len(first_ids))):
        return _r(check_id, Outcome.SKIP, f"not measured: the ids before the reconnect ({first_ids[:6]}) do not "
                  "increase by 1, so a gap after it would prove nothing (see stream.ids)", **evidence)
    if second.status == 204:
        return _r(check_id, Outcome.FAIL, f"resume with {how} answered 204 while the job was running: 204 is only "
                  "for a finished session whose final event the client has", **evidence)
    if not second.opened:
        return _r(check_id, Outcome.FAIL, f"resume with {how} {second.describe_failure()}", **evidence)
    resets = [a for a in second.events if a.event and a.event.event == "reset"]
    ids = [i for i in map(int_id, status_events(second)) if i is not None]
    evidence.update(second_ids=ids, resets=len(resets))
    if resets:
        return _r(check_id, Outcome.FAIL, f"an unneeded event: reset answered {how}, an id a moment old (still "
                  "retained): replay the statuses after it instead of resetting the client", **evidence)
    duplicates = [i for i in ids if i <= last_id]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated and not duplicates:
        return _r(check_id, Outcome.FAIL, f"the replay after {how} was right, then ids {repeated[:5]} came twice "
                  "on the live stream (see stream.ids): send each status once", **evidence)
    if duplicates:
        return _r(check_id, Outcome.FAIL, f"duplicate events after resuming with {how}: ids {duplicates[:5]} "
                  "were sent again; replay only the events after it", **evidence)
    if not ids:
        return _r(check_id, Outcome.FAIL, f"no event after resuming with {how} "
                  f"(stream {second.end} after {second.t_end:.1f} s)", **evidence)
    expected = list(range(last_id + 1, ids[-1] + 1))
    missing = sorted(set(expected) - set(ids))
    if missing and ids[0] != last_id + 1:
        return _r(check_id, Outcome.FAIL, f"the replay after {how} started at {ids[0]}: ids {missing[:5]} never "
                  "arrived; replay from the log every status after the id before going live", **evidence)
    if missing:
        return _r(check_id, Outcome.FAIL, f"the replay after {how} was right, then ids {missing[:5]} were lost "
                  "on the live stream (see stream.ids): deliver every status to every open stream", **evidence)
    if ids != expected:
        return _r(check_id, Outcome.FAIL, f"events out of order after resuming: {ids[:10]}", **evidence)
    if second.terminal_event() is None:
        return _r(check_id, Outcome.FAIL, f"the resumed stream did not reach the final status ({second.end} after "
                  f"{second.t_end:.1f} s)", **evidence)
    return _r(check_id, Outcome.PASS, f"resumed after id {last_id}: {len(ids)} events {ids[0]}..{ids[-1]}, no gap, "
              "no duplicate", **evidence)


def after_end(record: StreamRecord | None, final_id: int | None) -> CheckResult:
    if record is None or final_id is None:
        return _r("resume.after-end-204", Outcome.SKIP, "not measured: the job's final event was not seen")
    evidence = {"last_event_id": final_id, "status": record.status, "events": len(record.events)}
    if record.status == 204:
        return _r("resume.after-end-204", Outcome.PASS, f"204 for Last-Event-ID {final_id}", **evidence)
    if record.status == 200:
        return _r("resume.after-end-204", Outcome.FAIL,
                  f"answered 200 ({len(record.events)} events) to a reconnect after the final event: a browser "
                  "EventSource reconnects forever; answer 204 when Last-Event-ID >= the final seq", **evidence)
    return _r("resume.after-end-204", Outcome.FAIL, f"answered {record.status or record.error} to a reconnect "
              "after the final event; answer 204", **evidence)




def sse_resume(record: StreamRecord | None, sent: str | None, before: list[str]) -> CheckResult:
    """sse profile: reconnect with ``Last-Event-ID`` set to an id a few events old, and say what the
    server does with it. Good practice, not a browser requirement: the verdict warns at worst."""
    check_id = "resume.last-event-id"
    if sent is None:
        return _r(check_id, Outcome.SKIP, "not measured: the stream sent no ids, so there is nothing to resume from "
                  "(see stream.ids)")
    if record is None:
        return _r(check_id, Outcome.SKIP, "not measured: no reconnect made")
    evidence: dict[str, Any] = {"last_event_id": sent, "status": record.status, "ids_before": before[-10:]}
    if record.status == 204:
        return _r(check_id, Outcome.PASS, f"204 for Last-Event-ID {sent}: the server tells the client to stop",
                  **evidence)
    if not record.opened:
        return _r(check_id, Outcome.WARN, f"the reconnect with Last-Event-ID {sent} {record.describe_failure()}",
                  **evidence)
    ids = [a.event.id for a in record.events if a.event is not None and a.event.has_id]
    evidence["ids_after"] = ids[:10]
    if not ids:
        return _r(check_id, Outcome.SKIP, f"not measured: no event with an id within {record.t_end:.1f} s of the "
                  "reconnect", **evidence)
    first = ids[0]
    if sent.isdigit() and first.isdigit():
        n, f = int(sent), int(first)
        if f == n + 1:
            return _r(check_id, Outcome.PASS, f"replays: the reconnect with Last-Event-ID {sent} continued at {first}",
                      **evidence)
        if f <= n:
            return _r(check_id, Outcome.WARN, f"restarts: after Last-Event-ID {sent} the server sent {first} again "
                      "(a reconnecting client sees duplicates); replay only what follows the id", **evidence)
        return _r(check_id, Outcome.WARN, f"ignores it: after Last-Event-ID {sent} the stream went on at {first}, "
                  f"so {f - n - 1} events published meanwhile are lost to a reconnecting client; replay from a log",
                  **evidence)
    if sent in before and before.index(sent) + 1 < len(before) and first == before[before.index(sent) + 1]:
        return _r(check_id, Outcome.PASS, f"replays: continued with the event after {sent}", **evidence)
    if first in before:
        return _r(check_id, Outcome.WARN, f"restarts: after Last-Event-ID {sent} the server re-sent {first}",
                  **evidence)
    return _r(check_id, Outcome.WARN, f"ignores it (probably): after Last-Event-ID {sent} the stream went on at "
              f"{first}, not at the event after {sent}", **evidence)
