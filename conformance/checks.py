"""The checks: pure judgements over what the runner observed, one function per check.

No I/O here: each function takes recordings (``StreamRecord``) or probe outcomes (``Probe``) and returns a
``CheckResult``. That keeps every rule testable with hand-made recordings, and keeps the thresholds in
one place, named, with the reason for each.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from conformance.client import StreamRecord
from conformance.judging import (
    FIRST_BYTE_WARN_S,
    FIX_BUFFERING,
    HEADERS_FAIL_S,
    HEADERS_WARN_S,
    int_id,
    ms,
    not_open,
)
from conformance.judging import TERMINAL_LINGER_S as TERMINAL_LINGER_S
from conformance.judging import status_events as status_events
from conformance.judging import verdict as _r
from conformance.model import CheckResult, Outcome
from conformance.resume_checks import after_end, resume, sse_resume
from conformance.stream_checks import LIFETIME_SLACK_S as LIFETIME_SLACK_S
from conformance.stream_checks import (
    heartbeat,
    heartbeat_allowed_s,
    heartbeat_warn_s,
    idle_survival,
    lifetime,
    not_buffered,
    stalled,
    terminal_close,
)
from sse_contract.status import CORE_FIELDS, StatusUpdate

__all__ = ["LIFETIME_SLACK_S", "TERMINAL_LINGER_S", "after_end", "cache_control", "connection_h2", "content_encoding",
           "content_length", "content_type", "event_ids", "heartbeat", "heartbeat_allowed_s", "heartbeat_warn_s",
           "http_version", "idle_survival", "int_id", "lifetime", "not_buffered", "payloads", "resume", "retry_field",
           "sse_resume", "stalled", "status_events", "stream_open", "terminal_close", "time_to_first_byte",
           "time_to_first_event", "time_to_headers", "x_accel_buffering"]


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
        return not_open("headers.content-type", record)
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
        return not_open("headers.cache-control", record)
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
        return not_open("headers.content-encoding", record)
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
        return not_open("headers.content-length", record)
    value = record.headers.get("content-length")
    if value is not None:
        return _r("headers.content-length", Outcome.FAIL,
                  f"Content-Length: {value} on an endless stream: clients stop reading after that many bytes; "
                  "stream the body without a length (chunked / HTTP/2 DATA frames)", content_length=value)
    return _r("headers.content-length", Outcome.PASS, "absent",
              transfer_encoding=record.headers.get("transfer-encoding"))


def x_accel_buffering(record: StreamRecord, required: bool = True) -> CheckResult:
    if not record.opened:
        return not_open("headers.x-accel-buffering", record)
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
        return not_open("headers.connection-h2", record)
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
        return not_open("timing.headers", record)
    t = record.t_headers
    evidence = {"ms": ms(t), "http_version": record.http_version}
    if t >= HEADERS_FAIL_S:
        return _r("timing.headers", Outcome.FAIL, f"headers after {t * 1000:.0f} ms: send the response "
                  "headers before waiting for any event", ms(t), **evidence)
    if t >= HEADERS_WARN_S:
        return _r("timing.headers", Outcome.WARN, f"headers after {t * 1000:.0f} ms (slow): send them at once",
                  ms(t), **evidence)
    return _r("timing.headers", Outcome.PASS, f"{t * 1000:.0f} ms", ms(t), **evidence)


def time_to_first_event(records: Sequence[StreamRecord | None], budget_s: float) -> CheckResult:
    """The first event is the snapshot, sent at once (contract, "At once"); judged on every fresh stream.

    A late first event is reported as late: the buffering verdict belongs to stream.not-buffered, which
    judges the events published later."""
    opened = [r for r in records if r is not None and r.opened]
    if not opened:
        failed = next((r for r in records if r is not None), None)
        return not_open("timing.first-event", failed) if failed else _r(
            "timing.first-event", Outcome.SKIP, "not measured: no stream was opened")
    times = [r.t_first_event for r in opened]
    after_headers = [None if t is None or r.t_headers is None else t - r.t_headers
                     for r, t in zip(opened, times, strict=True)]
    missing = [r for r, t in zip(opened, times, strict=True) if t is None]
    worst = max((t for t in times if t is not None), default=None)
    evidence = {"ms": [ms(t) for t in times], "after_headers_ms": [ms(t) for t in after_headers],
                "budget_ms": ms(budget_s), "windows_s": [round(r.t_end, 2) for r in opened]}
    if missing:
        r = missing[0]
        return _r("timing.first-event", Outcome.FAIL,
                  f"no event at all within {r.t_end:.1f} s of opening the stream: the current state must be "
                  f"sent at once; if the origin does, an intermediary holds the stream — {FIX_BUFFERING}",
                  None, **evidence)
    assert worst is not None
    if worst > budget_s:
        late = max((t for t in after_headers if t is not None), default=0.0)
        return _r("timing.first-event", Outcome.FAIL,
                  f"first event late: {worst * 1000:.0f} ms after the request ({late * 1000:.0f} ms after the "
                  f"headers), budget {budget_s * 1000:.0f} ms: send retry: and the snapshot right after the "
                  "headers, before waiting for anything", ms(worst), **evidence)
    return _r("timing.first-event", Outcome.PASS, f"{worst * 1000:.0f} ms (budget {budget_s * 1000:.0f} ms)",
              ms(worst), **evidence)


def time_to_first_byte(record: StreamRecord) -> CheckResult:
    """sse profile: a stream whose first body byte never arrives is held by something (or hung)."""
    if not record.opened:
        return not_open("timing.first-byte", record)
    first = record.chunks[0][0] if record.chunks else None
    evidence = {"ms": ms(first), "headers_ms": ms(record.t_headers), "window_s": round(record.t_end, 2)}
    if first is None:
        return _r("timing.first-byte", Outcome.FAIL,
                  f"headers arrived but no body byte within {record.t_end:.1f} s: a browser sees nothing; if the "
                  f"server wrote something, a hop holds it — {FIX_BUFFERING}", None, **evidence)
    if first >= FIRST_BYTE_WARN_S:
        return _r("timing.first-byte", Outcome.WARN, f"first byte after {first * 1000:.0f} ms: send a comment "
                  "or retry: at once so clients (and proxies) see the stream is alive", ms(first), **evidence)
    return _r("timing.first-byte", Outcome.PASS, f"{first * 1000:.0f} ms", ms(first), **evidence)


def http_version(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return not_open("stream.http-version", record)
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
        return not_open("stream.retry", record)
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
        return not_open("stream.ids", record)
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
    if len(numeric) < 2:
        return _r("stream.ids", Outcome.SKIP, f"not measured: {len(numeric)} event(s) arrived, two ids are needed to "
                  "see them increase (did the job run?)", **evidence)
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
    """Why ``data`` is not a status (the fields that are missing or wrong), or None when it is one. Every
    core field must be in the payload as sent: the model's defaults are not the sender's values."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        return f"not JSON: {exc}"
    if isinstance(raw, dict) and (missing := sorted(CORE_FIELDS - raw.keys())):
        return "; ".join(f"{name} missing" for name in missing)
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
        return not_open("stream.payload", record)
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


