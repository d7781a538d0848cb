"""The checks: pure judgements over what the runner observed, one function per check.

No I/O here: each function takes recordings (``StreamRecord``) or probe outcomes (``Probe``) and returns a
``CheckResult``. That keeps every rule testable with hand-made recordings, and keeps the thresholds in
one place, named, with the reason for each.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.client import Arrival, StreamRecord
from conformance.model import CheckResult, Outcome
from sse_contract.wire import Comment

# -- thresholds ---------------------------------------------------------------------------------------------

#: Headers and the snapshot should come "at once"; a second is slow, five is broken for a progress UI.
HEADERS_WARN_S, HEADERS_FAIL_S = 1.0, 5.0
FIRST_EVENT_WARN_S, FIRST_EVENT_FAIL_S = 1.0, 5.0
#: Cloudflare cuts after 100 s without a byte; a heartbeat above 30 s leaves little margin for the others
#: (AWS ALB 60 s, nginx 60 s default).
HEARTBEAT_WARN_S = 30.0
CLOUDFLARE_IDLE_S = 100.0
#: Buffering: an event "held" arrives much closer to its predecessor than it was published
#: (arrival gap < HELD_RATIO x publish gap, for publish gaps of at least HELD_MIN_GAP_S).
HELD_RATIO = 0.2
HELD_MIN_GAP_S = 0.1
#: Relative delay of the latest event against the earliest (clock skew cancels out): a loaded 2-core
#: box adds ~100-200 ms of jitter; a buffer holds events for whole publish intervals.
DELAY_WARN_S, DELAY_FAIL_S = 0.35, 1.0
#: The stream should end at once after the final status; the runner lingers this long to see it.
TERMINAL_LINGER_S = 2.0

_FIX_BUFFERING = ("disable response buffering on every hop (nginx: proxy_buffering off or the "
                  "X-Accel-Buffering: no header; Cloudflare: no response buffering) and do not compress "
                  "text/event-stream")


@dataclass
class Probe:
    """One plain HTTP request made by a check, and what came back."""

    label: str
    method: str
    path: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    error: str | None = None
    #: for input.malformed: "4xx" or "200" (what the contract wants)
    expect: str = ""

    def short(self) -> str:
        return f"{self.label}: {self.status if self.status is not None else self.error}"

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def _r(check_id: str, outcome: Outcome, message: str, metric: float | None = None, /,
       **evidence: Any) -> CheckResult:
    return CheckResult(check_id, outcome, message, evidence, metric)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _not_open(check_id: str, record: StreamRecord) -> CheckResult:
    return _r(check_id, Outcome.SKIP, f"not measured: the stream {record.describe_failure()} (see stream.open)")


def status_events(record: StreamRecord) -> list[Arrival]:
    return [a for a in record.events if a.status() is not None]


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


def cache_control(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return _not_open("headers.cache-control", record)
    value = record.headers.get("cache-control", "")
    tokens = {t.strip().split("=")[0].lower() for t in value.split(",") if t.strip()}
    if not tokens & {"no-cache", "no-store"}:
        return _r("headers.cache-control", Outcome.FAIL,
                  f"Cache-Control is {value or 'missing'!r}: a cache may store or coalesce the stream; "
                  "send Cache-Control: no-cache, no-transform", cache_control=value)
    if "no-transform" not in tokens:
        return _r("headers.cache-control", Outcome.WARN,
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


def x_accel_buffering(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return _not_open("headers.x-accel-buffering", record)
    value = record.headers.get("x-accel-buffering")
    server = record.headers.get("server", "")
    if value is None and "nginx" in server.lower():
        # nginx acts on the header and does not pass it on: its absence here says nothing about the origin
        return _r("headers.x-accel-buffering", Outcome.PASS, f"consumed by the nginx in front (Server: {server}); "
                  "stream.not-buffered shows whether it buffers", server=server)
    if value is None:
        return _r("headers.x-accel-buffering", Outcome.WARN,
                  "no X-Accel-Buffering header: an nginx in front buffers the stream by default; send "
                  "X-Accel-Buffering: no (or set proxy_buffering off there)")
    if value.strip().lower() != "no":
        return _r("headers.x-accel-buffering", Outcome.FAIL,
                  f"X-Accel-Buffering: {value} asks nginx to buffer the stream; send X-Accel-Buffering: no",
                  x_accel_buffering=value)
    return _r("headers.x-accel-buffering", Outcome.PASS, "no", x_accel_buffering=value)


def connection_h2(record: StreamRecord) -> CheckResult:
    error = record.error or ""
    if "connection" in error.lower() and ("header" in error.lower() or "protocol" in error.lower()):
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


def time_to_first_event(records: Sequence[StreamRecord | None]) -> CheckResult:
    """The first event should be the snapshot, sent at once; judged on every fresh stream opened."""
    opened = [r for r in records if r is not None and r.opened]
    if not opened:
        failed = next((r for r in records if r is not None), None)
        return _not_open("timing.first-event", failed) if failed else _r(
            "timing.first-event", Outcome.SKIP, "not measured: no stream was opened")
    times = [r.t_first_event for r in opened]
    missing = [r for r, t in zip(opened, times, strict=True) if t is None]
    worst = max((t for t in times if t is not None), default=None)
    evidence = {"ms": [_ms(t) for t in times], "windows_s": [round(r.t_end, 2) for r in opened]}
    if missing:
        r = missing[0]
        return _r("timing.first-event", Outcome.FAIL,
                  f"no event at all within {r.t_end:.1f} s of opening the stream: the current state must be "
                  f"sent at once; if the origin does, an intermediary holds the stream — {_FIX_BUFFERING}",
                  None, **evidence)
    assert worst is not None
    if worst >= FIRST_EVENT_FAIL_S:
        return _r("timing.first-event", Outcome.FAIL, f"first event after {worst * 1000:.0f} ms: send the "
                  "snapshot right after the headers (buffering also delays it)", _ms(worst), **evidence)
    if worst >= FIRST_EVENT_WARN_S:
        return _r("timing.first-event", Outcome.WARN, f"first event after {worst * 1000:.0f} ms (slow): send the "
                  "snapshot at once; check for buffering", _ms(worst), **evidence)
    return _r("timing.first-event", Outcome.PASS, f"{worst * 1000:.0f} ms", _ms(worst), **evidence)


# -- stream content ------------------------------------------------------------------------------------------

def retry_field(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return _not_open("stream.retry", record)
    retries = record.retries
    if not retries:
        return _r("stream.retry", Outcome.WARN,
                  "no retry: field: browsers pick their own reconnect delay (~3 s); send retry: <ms> first")
    first_event = record.t_first_event
    value = retries[0].item.milliseconds  # type: ignore[union-attr]
    before = first_event is None or retries[0].t <= first_event
    return _r("stream.retry", Outcome.PASS, f"retry: {value} ms" + ("" if before else " (after the first event)"),
              retry_ms=value)


def event_ids(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return _not_open("stream.ids", record)
    events = [a for a in record.events if a.event is not None and a.event.event != "reset"]
    if not events:
        return _r("stream.ids", Outcome.SKIP, "not measured: no event arrived")
    without = [i for i, a in enumerate(events) if not a.event or not a.event.has_id]
    ids = [int_id(a) for a in events]
    evidence: dict[str, Any] = {"events": len(events), "ids": [a.event.id if a.event else None for a in events][:50]}
    if without:
        return _r("stream.ids", Outcome.FAIL,
                  f"{len(without)} of {len(events)} events carry no id: a reconnecting browser cannot resume "
                  "(Last-Event-ID) and loses what was published meanwhile; send id: <seq> on every event",
                  **evidence)
    numeric = [i for i in ids if i is not None]
    if len(numeric) != len(ids):
        texts = [a.event.id for a in events if a.event]
        if len(set(texts)) != len(texts):
            return _r("stream.ids", Outcome.FAIL, "repeated ids: ids must be unique and increasing", **evidence)
        return _r("stream.ids", Outcome.WARN, "ids are not integers: cannot verify they increase", **evidence)
    backwards = [(a, b) for a, b in itertools.pairwise(numeric) if b <= a]
    if backwards:
        a, b = backwards[0]
        return _r("stream.ids", Outcome.FAIL, f"ids do not strictly increase ({a} then {b}): duplicates or "
                  "reordering; number events per session with an atomic counter", **evidence)
    gaps = [(a, b) for a, b in itertools.pairwise(numeric) if b != a + 1]
    if gaps:
        return _r("stream.ids", Outcome.WARN, f"ids skip ({gaps[0][0]} -> {gaps[0][1]}, {len(gaps)} gaps): "
                  "events were coalesced or lost between publisher and client", gaps=gaps[:10], **evidence)
    return _r("stream.ids", Outcome.PASS, f"{len(events)} events, ids {numeric[0]}..{numeric[-1]} by 1", **evidence)


def payloads(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return _not_open("stream.payload", record)
    events = [a for a in record.events if a.event is not None and a.event.event != "reset"]
    if not events:
        return _r("stream.payload", Outcome.SKIP, "not measured: no event arrived")
    bad = [a for a in events if a.status() is None]
    if bad:
        sample = bad[0].event.data[:120] if bad[0].event else ""
        return _r("stream.payload", Outcome.FAIL,
                  f"{len(bad)} of {len(events)} events are not status JSON (session_id, seq, status, progress, "
                  f"message, timestamp), e.g. {sample!r}", sample=sample)
    types = sorted({a.event.event for a in events if a.event})
    mismatched = [a for a in events if int_id(a) is not None and a.status() is not None
                  and a.status().seq != int_id(a)]  # type: ignore[union-attr]
    if mismatched:
        return _r("stream.payload", Outcome.WARN, "the id of an event differs from its payload's seq: use the "
                  "seq as the id so Last-Event-ID means the same thing everywhere", event_types=types)
    if types != ["status"]:
        return _r("stream.payload", Outcome.WARN, f"event types {types}: the contract names status events "
                  "'event: status'", event_types=types)
    return _r("stream.payload", Outcome.PASS, f"{len(events)} valid status events", event_types=types)


def not_buffered(record: StreamRecord) -> CheckResult:
    """Compare arrival times with the events' own timestamps: a buffer shows as events that were
    published apart but arrive together (at the end, or whenever the buffer fills)."""
    if not record.opened:
        return _not_open("stream.not-buffered", record)
    # the first event is the snapshot of a state published before the connection: not a live sample
    live = status_events(record)[1:]
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


def heartbeat(record: StreamRecord | None, idle_s: float, limit_s: float = CLOUDFLARE_IDLE_S) -> CheckResult:
    """``limit_s`` is the idle timeout of the strictest hop (Cloudflare: 100 s); the hard rule — fail when
    nothing arrives within that much silence — applies only when the window was long enough to see it."""
    if record is None:
        return _r("heartbeat.interval", Outcome.SKIP, "not measured: no idle stream")
    if not record.opened:
        return _not_open("heartbeat.interval", record)
    beats = [a.t for a in record.comments]
    longest = max(_silences(record), default=0.0)
    warn_s = heartbeat_warn_s(limit_s)
    texts = sorted({a.item.text for a in record.comments if isinstance(a.item, Comment)})[:3]
    evidence: dict[str, Any] = {"heartbeats": len(beats), "window_s": round(record.t_end, 2),
                                "longest_silence_s": round(longest, 2), "idle_limit_s": limit_s, "texts": texts}
    if idle_s >= limit_s and longest >= limit_s:
        return _r("heartbeat.interval", Outcome.FAIL,
                  f"{longest:.0f} s without a byte: an intermediary with a {limit_s:g} s idle limit (Cloudflare: "
                  "100 s, then 524 or a cut) ends the stream; send a comment (': ping') every 15 s", longest,
                  **evidence)
    if len(beats) >= 2:
        interval = statistics.median(b - a for a, b in itertools.pairwise(beats))
    elif len(beats) == 1:
        before = [t for t, _ in record.chunks if t < beats[0]]
        interval = beats[0] - (before[-1] if before else record.t_headers or 0.0)
    else:
        if record.t_end > warn_s and record.end == "window":
            return _r("heartbeat.interval", Outcome.WARN,
                      f"no heartbeat within {record.t_end:.0f} s of silence: proxies cut idle streams (Cloudflare "
                      "100 s, nginx 60 s); send ': ping' every 15 s", None, **evidence)
        return _r("heartbeat.interval", Outcome.SKIP,
                  f"not measured: no heartbeat in the {record.t_end:.1f} s window (the interval is longer; "
                  f"use --idle-s {int(warn_s) + 5} to measure it)", None, **evidence)
    evidence["interval_s"] = round(interval, 2)
    if interval > warn_s:
        return _r("heartbeat.interval", Outcome.WARN, f"heartbeat every {interval:.1f} s: too close to proxy idle "
                  f"timeouts (nginx 60 s, Cloudflare 100 s); keep it under {warn_s:g} s (15 s is usual)",
                  round(interval, 2), **evidence)
    return _r("heartbeat.interval", Outcome.PASS, f"every {interval:.1f} s ({len(beats)} seen)",
              round(interval, 2), **evidence)


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
              f"open for {record.t_end:.1f} s with only {len(record.comments)} heartbeats",
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
    if second.status == 204:
        return _r(check_id, Outcome.FAIL, f"resume with {how} answered 204 while the job was running: 204 is only "
                  "for a finished session whose final event the client has", **evidence)
    if not second.opened:
        return _r(check_id, Outcome.FAIL, f"resume with {how} {second.describe_failure()}", **evidence)
    resets = [a for a in second.events if a.event and a.event.event == "reset"]
    ids = [i for i in map(int_id, status_events(second)) if i is not None]
    evidence.update(second_ids=ids, resets=len(resets))
    duplicates = [i for i in ids if i <= last_id]
    if duplicates:
        return _r(check_id, Outcome.FAIL, f"duplicate events after resuming with {how}: ids {duplicates[:5]} "
                  "were sent again; replay only the events after it", **evidence)
    if resets:
        return _r(check_id, Outcome.FAIL, f"the server answered event: reset to {how}, an id a moment old: "
                  "keep (and replay from) a log of recent events", **evidence)
    if not ids:
        return _r(check_id, Outcome.FAIL, f"no event after resuming with {how} "
                  f"(stream {second.end} after {second.t_end:.1f} s)", **evidence)
    expected = list(range(last_id + 1, ids[-1] + 1))
    missing = sorted(set(expected) - set(ids))
    if missing:
        return _r(check_id, Outcome.FAIL, f"gap after resuming with {how}: ids {missing[:5]} never "
                  "arrived; replay from the log before going live", **evidence)
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


# -- plain HTTP probes ----------------------------------------------------------------------------------------

def poll_etag(first: Probe | None, second: Probe | None) -> CheckResult:
    if first is None:
        return _r("poll.etag", Outcome.SKIP, "not measured: no session")
    evidence: dict[str, Any] = {"status": first.status, "etag": first.headers.get("etag"),
                                "second_status": second.status if second else None}
    if first.status != 200:
        return _r("poll.etag", Outcome.FAIL, f"GET {first.path} answered {first.status or first.error}: the polling "
                  "fallback (for clients that cannot stream) must answer 200 with the status JSON", **evidence)
    from sse_contract.status import StatusUpdate

    try:
        StatusUpdate.from_json(first.body)
    except ValueError:
        return _r("poll.etag", Outcome.FAIL, f"the polling body is not a status: {first.body[:120]!r}", **evidence)
    etag = first.headers.get("etag")
    if not etag:
        return _r("poll.etag", Outcome.WARN, "no ETag: every poll transfers the whole status; send ETag "
                  "\"<seq>\" and answer 304 to If-None-Match", **evidence)
    if second is None or second.status != 304:
        got = second.status if second else None
        return _r("poll.etag", Outcome.WARN, f"If-None-Match: {etag} answered {got}, not 304", **evidence)
    return _r("poll.etag", Outcome.PASS, f"200 with ETag {etag}, 304 on If-None-Match", **evidence)


def unauthenticated(probes: Sequence[Probe]) -> CheckResult:
    if not probes:
        return _r("auth.unauthenticated", Outcome.SKIP, "not measured: no session")
    evidence = {"probes": [p.short() for p in probes]}
    open_ = [p for p in probes if p.status is not None and 200 <= p.status < 300]
    if open_:
        return _r("auth.unauthenticated", Outcome.FAIL, f"{open_[0].label} answered {open_[0].status} without "
                  "credentials: anyone can read the session; require a token or cookie", **evidence)
    broken = [p for p in probes if p.status is None or p.status >= 500]
    if broken:
        return _r("auth.unauthenticated", Outcome.FAIL, f"{broken[0].short()} without credentials: answer 401, "
                  "never a 5xx", **evidence)
    other = [p for p in probes if p.status != 401]
    if other:
        return _r("auth.unauthenticated", Outcome.WARN, f"{other[0].short()} without credentials: the contract "
                  "says 401", **evidence)
    return _r("auth.unauthenticated", Outcome.PASS, "401 for the stream and the status", **evidence)


def cross_user(probes: Sequence[Probe], reason: str | None = None) -> CheckResult:
    if not probes:
        return _r("auth.cross-user", Outcome.SKIP, f"not measured: {reason or 'no second identity'}")
    evidence = {"probes": [p.short() for p in probes]}
    leaked = [p for p in probes if p.status is not None and 200 <= p.status < 300]
    if leaked:
        return _r("auth.cross-user", Outcome.FAIL, f"{leaked[0].label} answered {leaked[0].status}: another user "
                  "can read this session; check the owner", **evidence)
    broken = [p for p in probes if p.status is None or p.status >= 500]
    if broken:
        return _r("auth.cross-user", Outcome.FAIL, f"{broken[0].short()}: answer 404, never a 5xx", **evidence)
    other = [p for p in probes if p.status != 404]
    if other:
        return _r("auth.cross-user", Outcome.WARN, f"{other[0].short()}: answer 404 for missing and foreign "
                  "sessions alike (403 tells an attacker the session exists)", **evidence)
    return _r("auth.cross-user", Outcome.PASS, "404 for another user's session and for a missing one", **evidence)


def malformed(probes: Sequence[Probe]) -> CheckResult:
    if not probes:
        return _r("input.malformed", Outcome.SKIP, "not measured: no session")
    evidence = {"probes": [p.short() for p in probes]}
    broken = [p for p in probes if p.status is None or p.status >= 500]
    if broken:
        return _r("input.malformed", Outcome.FAIL, f"{len(broken)} malformed requests got a 5xx or no answer ("
                  f"{'; '.join(p.short() for p in broken[:3])}): validate input and answer 4xx", **evidence)
    # a 429 on a probe that expects 200 is the per-user cap answering (other checks hold streams): not a
    # verdict on the input
    unexpected = [p for p in probes if (p.expect == "4xx" and not 400 <= (p.status or 0) < 500)
                  or (p.expect == "200" and p.status not in (200, 429))]
    if unexpected:
        p = unexpected[0]
        want = "a 4xx" if p.expect == "4xx" else "200 (a malformed Last-Event-ID counts as absent)"
        return _r("input.malformed", Outcome.WARN, f"{p.short()}, expected {want}", **evidence)
    return _r("input.malformed", Outcome.PASS, f"{len(probes)} malformed requests, no 5xx", **evidence)


def per_user_cap(statuses: Sequence[int], retry_after: str | None, probe: int) -> CheckResult:
    if not statuses:
        return _r("cap.per-user", Outcome.SKIP, "not measured (--cap-probe 0)")
    opened = sum(1 for s in statuses if s == 200)
    last = statuses[-1]
    evidence = {"opened": opened, "last_status": last, "retry_after": retry_after, "probe": probe}
    if last == 429:
        if not retry_after:
            return _r("cap.per-user", Outcome.WARN, f"429 after {opened} streams but no Retry-After: tell clients "
                      "when to retry", **evidence)
        return _r("cap.per-user", Outcome.PASS, f"429 with Retry-After {retry_after} after {opened} open streams",
                  **evidence)
    if last != 200:
        return _r("cap.per-user", Outcome.FAIL, f"stream {len(statuses)} answered {last}: past the cap answer 429 "
                  "with Retry-After", **evidence)
    return _r("cap.per-user", Outcome.WARN, f"no per-user cap within {opened} streams: a tab or retry loop can "
              "exhaust the server; answer 429 past a limit", **evidence)


def cors(origin: str | None, preflight: Probe | None, actual: Probe | None) -> CheckResult:
    if not origin:
        return _r("cors.credentials", Outcome.SKIP, "not measured: pass --origin https://your.app to check CORS")
    if preflight is None or actual is None:
        return _r("cors.credentials", Outcome.SKIP, "not measured: no session")
    evidence = {"origin": origin,
                "preflight": {"status": preflight.status, **{k: v for k, v in preflight.headers.items()
                                                              if k.startswith("access-control")}},
                "actual": {"status": actual.status, **{k: v for k, v in actual.headers.items()
                                                       if k.startswith("access-control")}}}
    for probe in (actual, preflight):
        allow = probe.headers.get("access-control-allow-origin")
        if allow != origin:
            return _r("cors.credentials", Outcome.FAIL, f"{probe.label}: Access-Control-Allow-Origin is {allow!r}, "
                      f"must be {origin!r} (not '*': EventSource withCredentials needs the exact origin)", **evidence)
        if (probe.headers.get("access-control-allow-credentials") or "").lower() != "true":
            return _r("cors.credentials", Outcome.FAIL, f"{probe.label}: no Access-Control-Allow-Credentials: true; "
                      "cookies are not sent cross-origin without it", **evidence)
    allowed_headers = (preflight.headers.get("access-control-allow-headers") or "").lower()
    if "last-event-id" not in allowed_headers:
        return _r("cors.credentials", Outcome.WARN, "the preflight does not allow the Last-Event-ID header: "
                  "fetch-based clients cannot resume cross-origin", **evidence)
    return _r("cors.credentials", Outcome.PASS, f"{origin} allowed with credentials", **evidence)
