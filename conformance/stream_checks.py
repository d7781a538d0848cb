"""The judges of a stream over time: buffering, the end after the final status, heartbeat, idle survival."""

from __future__ import annotations

import itertools
import json
import statistics
from datetime import datetime
from typing import Any

from conformance.client import Arrival, StreamRecord
from conformance.judging import (
    DELAY_FAIL_S,
    DELAY_WARN_S,
    FIX_BUFFERING,
    FLUSH_EVENTS,
    FLUSH_SILENCE_S,
    FLUSH_WINDOW_S,
    HEARTBEAT_TOLERANCE,
    HEARTBEAT_TOLERANCE_MIN_S,
    HEARTBEAT_WARN_S,
    HELD_MIN_GAP_S,
    HELD_RATIO,
    ms,
    not_open,
    status_events,
)
from conformance.judging import verdict as _r
from conformance.model import CheckResult, Outcome
from conformance.options import CLOUDFLARE_IDLE_S
from sse_contract.wire import Comment


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
        return not_open("stream.not-buffered", record)
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
        "events": len(live), "published_span_ms": ms(span_published),
        "arrival_span_ms": ms(live[-1].t - live[0].t), "max_delay_ms": ms(max_delay),
        "median_delay_ms": ms(statistics.median(delays)), "held_fraction": round(held_fraction, 2),
        "bursts": bursts, "content_encoding": record.headers.get("content-encoding"),
        "delays_ms": [ms(d) for d in delays][:50],
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
        return _r("stream.not-buffered", Outcome.FAIL, f"{what}{why}; {FIX_BUFFERING}", ms(max_delay), **evidence)
    if held_fraction >= 0.25 or max_delay >= DELAY_WARN_S:
        return _r("stream.not-buffered", Outcome.WARN,
                  f"some events arrived late (up to {max_delay * 1000:.0f} ms) or bunched{why}: possible "
                  "partial buffering or an overloaded hop", ms(max_delay), **evidence)
    return _r("stream.not-buffered", Outcome.PASS,
              f"{len(live)} events arrived as published (max extra delay {max_delay * 1000:.0f} ms)",
              ms(max_delay), **evidence)


def _flushes(record: StreamRecord) -> CheckResult:
    events = record.events
    compressed = record.headers.get("content-encoding")
    why = f" (the stream is {compressed}-compressed: compression holds events)" if compressed else ""
    if len(events) < FLUSH_EVENTS + 1:
        if compressed and record.end == "closed" and events:
            return _r("stream.not-buffered", Outcome.FAIL, f"all {len(events)} events came at the end{why}; "
                      f"{FIX_BUFFERING}", events=len(events))
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
                "arrival_ms": [ms(a.t) for a in events][:50], "content_encoding": compressed}
    if flushes and (flushed >= 0.5 * len(events) or len(flushes) >= 2):
        return _r("stream.not-buffered", Outcome.FAIL,
                  f"{flushed} of {len(events)} events arrived in {len(flushes)} burst(s) of several at once after "
                  f"a silence: the stream is buffered{why}; {FIX_BUFFERING}", None, **evidence)
    if flushes:
        return _r("stream.not-buffered", Outcome.WARN, f"one burst of {flushed} events at once after a silence"
                  f"{why}: a buffer, or the server sends them together", None, **evidence)
    return _r("stream.not-buffered", Outcome.PASS, f"{len(events)} events in {len(groups)} separate arrivals, no "
              "burst after a silence", None, **evidence)


def terminal_close(record: StreamRecord) -> CheckResult:
    if not record.opened:
        return not_open("stream.terminal-close", record)
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
                  close_after_ms=ms(after))
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
        return not_open("heartbeat.interval", record)
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
                  f"holds the stream; {FIX_BUFFERING}", round(record.t_end, 2), **evidence)
    return _r("idle.survival", Outcome.PASS,
              f"open for {record.t_end:.1f} s, not cut ({len(record.events)} events, {len(record.comments)} heartbeat "
              "comment(s))",
              round(record.t_end, 2), **evidence)




#: a lifetime end may come this much after the bound (the server's timer tick, the network)
LIFETIME_SLACK_S = 2.0
#: docs/contract.md point 5: the lifetime is jittered to 80-100 % of SSE_CONNECTION_TIMEOUT
LIFETIME_JITTER_MIN = 0.8
#: an end this much before 80 % is still in (the clock's resolution; the server's timer starts after ours)
LIFETIME_EARLY_S = 0.05


def lifetime(record: StreamRecord | None, max_lifetime_s: float | None) -> CheckResult:
    """Contract point 5: a stream lives at most SSE_CONNECTION_TIMEOUT, then the server ends it cleanly.
    Why it matters: a stream that lives forever keeps a deploy's old process alive and pins clients to it;
    the bound (jittered) spreads the reconnects out, and a clean end makes the client resume silently."""
    cid = "stream.lifetime"
    if max_lifetime_s is None:
        return _r(cid, Outcome.SKIP, "not measured: opt-in, pass --max-lifetime-s (the target's "
                  "SSE_CONNECTION_TIMEOUT, default 300)")
    if record is None:
        return _r(cid, Outcome.SKIP, "not measured: no stream recorded")
    evidence: dict[str, Any] = {"bound_s": max_lifetime_s, "open_s": round(record.t_end, 2), "end": record.end,
                                "status": record.status, "error": record.error}
    if not record.opened:
        return _r(cid, Outcome.FAIL, f"the stream {record.describe_failure()}", **evidence)
    if record.terminal_event() is not None:
        return _r(cid, Outcome.SKIP, "not measured: the session finished, its stream ended by design", **evidence)
    lived = round(record.t_end, 2)
    if record.end == "window":
        return _r(cid, Outcome.FAIL, f"still open after {record.t_end:.1f} s (SSE_CONNECTION_TIMEOUT "
                  f"{max_lifetime_s:g} s): a stream without a lifetime pins its client to one process and a "
                  "deploy's reconnects all come at once — 5.", lived, **evidence)
    if record.end == "cut":
        return _r(cid, Outcome.FAIL, f"cut after {record.t_end:.1f} s, not ended: the lifetime must end the "
                  "stream cleanly (the final chunk), so the client resumes without an error — 5.", lived, **evidence)
    if record.end != "closed":
        return _r(cid, Outcome.SKIP, f"not measured: the recording ended by {record.end}", **evidence)
    # measured from our request, so never earlier than the server's own timer: no slack below 80 %
    earliest = LIFETIME_JITTER_MIN * max_lifetime_s - LIFETIME_EARLY_S
    if record.t_end < earliest:
        return _r(cid, Outcome.WARN, f"ended cleanly after {record.t_end:.1f} s, before 80 % of the "
                  f"{max_lifetime_s:g} s given ({earliest + LIFETIME_EARLY_S:.1f} s): a shorter lifetime than "
                  "declared, or an intermediary ends streams", lived, **evidence)
    return _r(cid, Outcome.PASS, f"ended cleanly after {record.t_end:.1f} s, within 80-100 % of the "
              f"{max_lifetime_s:g} s given (+{LIFETIME_SLACK_S:g} s for timers)", lived, **evidence)


STALLED_FIELDS = frozenset({"session_id", "seq", "silent_s", "reason"})


def stalled(record: StreamRecord | None, stall_after_s: float | None) -> CheckResult:
    """Contract point 10: a job silent longer than STATUS_STALL_AFTER_S gets one ``event: stalled``
    (no id; data session_id, seq, silent_s, reason) at the next heartbeat."""
    if stall_after_s is None:
        return _r("stream.stalled", Outcome.SKIP, "not measured: opt-in, pass --stall-after-s (the target's "
                  "STATUS_STALL_AFTER_S, default 120)")
    if record is None:
        return _r("stream.stalled", Outcome.SKIP, "not measured: needs events (--trigger http or redis)")
    if not record.opened:
        return not_open("stream.stalled", record)
    marks = [a for a in record.events if a.event is not None and a.event.event == "stalled"]
    evidence: dict[str, Any] = {"stall_after_s": stall_after_s, "stalled_events": len(marks),
                                "window_s": round(record.t_end, 2)}
    if not marks:
        return _r("stream.stalled", Outcome.FAIL, f"the job went silent for over {2 * stall_after_s:g} s and no "
                  "event: stalled came: send one at the next heartbeat after STATUS_STALL_AFTER_S so a UI can "
                  "say the worker went quiet", **evidence)
    first = marks[0].event
    assert first is not None
    try:
        data = json.loads(first.data)
    except ValueError:
        data = None
    missing = sorted(STALLED_FIELDS - set(data)) if isinstance(data, dict) else sorted(STALLED_FIELDS)
    evidence["data"] = first.data[:200]
    if first.has_id:
        return _r("stream.stalled", Outcome.FAIL, f"event: stalled carries id: {first.id}: it must not (a resume "
                  "from it would skip statuses)", **evidence)
    if missing:
        return _r("stream.stalled", Outcome.FAIL, f"event: stalled without {', '.join(missing)} in its data",
                  **evidence)
    if len(marks) > 1:
        return _r("stream.stalled", Outcome.FAIL, f"{len(marks)} stalled events for one silence: send it once",
                  **evidence)
    return _r("stream.stalled", Outcome.PASS, f"event: stalled after {marks[0].t:.1f} s (silent_s "
              f"{data['silent_s']})", **evidence)
