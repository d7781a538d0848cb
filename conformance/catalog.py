"""Every check, declared once: id, title, phase, profiles and judge.

The runners read ``phase`` to know which recordings to make, the report reads ``title`` and
``metric_unit``, the pytest plugin parametrises over the ids, and ``judge`` turns the observations into
the verdict. Ids are stable: CI filters and JUnit names depend on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from conformance import checks, hooks, probes, slow_reader
from conformance.client import StreamRecord
from conformance.model import CheckResult, Outcome
from conformance.observations import Observations
from conformance.options import CheckOptions

__all__ = ["BY_ID", "CHECKS", "Check", "Phase", "select_checks"]

#: live = the job stream (contract) or the one stream (sse); idle = the idle stream held to its next
#: byte; resume-*: interrupted and resumed streams; probe = plain requests; cap = the per-user cap, last;
#: slow = a stream that reads nothing during a long job (alone: it reads /streams/me);
#: bus and shutdown: the operator hooks (opt-in, after every other phase; shutdown stops the target)
Phase = Literal["live", "idle", "resume-header", "resume-query", "resume-sse", "probe", "cap", "stall",
                "lifetime", "slow", "bus", "shutdown"]
Judge = Callable[[Observations, CheckOptions], CheckResult]
BOTH = frozenset({"contract", "sse"})
CONTRACT = frozenset({"contract"})
SSE = frozenset({"sse"})


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: str
    phase: Phase
    profiles: frozenset[str]
    judge: Judge
    #: the measured number compared by ``--compare``, with its unit (None: nothing to compare)
    metric_unit: str | None = None
    #: judged on a job's events (the live phase then starts a job and waits for its end)
    events: bool = False


def _contract(o: CheckOptions) -> bool:
    return o.resolved_profile() == "contract"


def _on(record_of: Callable[[Observations], StreamRecord | None],
        judge: Callable[[StreamRecord, CheckOptions], CheckResult], check_id: str) -> Judge:
    """A judge of one recording; skipped (with the reason) when the recording was not made."""
    def run(obs: Observations, o: CheckOptions) -> CheckResult:
        record = record_of(obs)
        if record is None:
            return CheckResult(check_id, Outcome.SKIP, "not measured: no stream recorded")
        return judge(record, o)
    return run


def _primary(obs: Observations) -> StreamRecord | None:
    return obs.live or obs.idle  # with --trigger none the idle recording of the given session stands in


def _job(obs: Observations) -> StreamRecord | None:
    return obs.live


def _resume(kind: str) -> Judge:
    def run(obs: Observations, o: CheckOptions) -> CheckResult:
        if kind not in obs.resumes:
            return CheckResult(f"resume.{kind}", Outcome.SKIP, "not measured: needs events (--trigger http or redis)")
        return checks.resume(kind, *obs.resumes[kind])
    return run


def _after_end(obs: Observations, o: CheckOptions) -> CheckResult:
    if obs.live is None:
        return CheckResult("resume.after-end-204", Outcome.SKIP, "not measured: needs events (--trigger http or redis)")
    return checks.after_end(obs.after_end, obs.final_id)


CHECKS: tuple[Check, ...] = (
    Check("stream.open", "stream answers 200", "live", BOTH, _on(_primary, lambda r, o: checks.stream_open(r),
                                                                  "stream.open")),
    Check("headers.content-type", "Content-Type text/event-stream", "live", BOTH,
          _on(_primary, lambda r, o: checks.content_type(r), "headers.content-type")),
    Check("headers.cache-control", "Cache-Control no-cache, no-transform", "live", BOTH,
          _on(_primary, lambda r, o: checks.cache_control(r, required=_contract(o)), "headers.cache-control")),
    Check("headers.content-encoding", "no Content-Encoding (gzip/br offered)", "live", BOTH,
          _on(_primary, lambda r, o: checks.content_encoding(r), "headers.content-encoding")),
    Check("headers.content-length", "no Content-Length", "live", BOTH,
          _on(_primary, lambda r, o: checks.content_length(r), "headers.content-length")),
    Check("headers.x-accel-buffering", "X-Accel-Buffering: no", "live", BOTH,
          _on(_primary, lambda r, o: checks.x_accel_buffering(r, required=_contract(o)),
              "headers.x-accel-buffering")),
    Check("headers.connection-h2", "no Connection header on HTTP/2", "live", BOTH,
          _on(_primary, lambda r, o: checks.connection_h2(r), "headers.connection-h2")),
    Check("timing.headers", "time to headers", "live", BOTH,
          _on(_primary, lambda r, o: checks.time_to_headers(r), "timing.headers"), "ms"),
    Check("timing.first-event", "first event within the budget", "live", CONTRACT,
          lambda obs, o: checks.time_to_first_event([obs.live, obs.idle], o.first_event_budget_ms / 1000), "ms"),
    Check("timing.first-byte", "time to the first body byte", "live", SSE,
          _on(_primary, lambda r, o: checks.time_to_first_byte(r), "timing.first-byte"), "ms"),
    Check("stream.http-version", "HTTP version negotiated", "live", SSE,
          _on(_primary, lambda r, o: checks.http_version(r), "stream.http-version")),
    Check("stream.retry", "retry: field sent", "live", BOTH,
          _on(_primary, lambda r, o: checks.retry_field(r, required=_contract(o)), "stream.retry")),
    Check("stream.ids", "ids on every event, +1, no gap or duplicate", "live", BOTH,
          _on(_primary, lambda r, o: checks.event_ids(r, contract=_contract(o)), "stream.ids"), events=True),
    Check("stream.payload", "status payloads as received (event: status, id = seq, timestamp)", "live",
          CONTRACT, _on(_primary, lambda r, o: checks.payloads(r), "stream.payload"), events=True),
    Check("stream.not-buffered", "events arrive as published (no buffering)", "live", BOTH,
          _on(_job, lambda r, o: checks.not_buffered(r, contract=_contract(o)), "stream.not-buffered"), "ms",
          events=True),
    Check("stream.terminal-close", "stream ends after the final status", "live", CONTRACT,
          _on(_job, lambda r, o: checks.terminal_close(r), "stream.terminal-close"), events=True),
    Check("heartbeat.interval", "heartbeat while idle (next byte within the idle limit)", "idle", BOTH,
          lambda obs, o: checks.heartbeat(obs.idle, o.idle_limit_s, o.expect_heartbeat_s), "s"),
    Check("idle.survival", "idle stream survives", "idle", BOTH,
          lambda obs, o: checks.idle_survival(obs.idle, o.idle_s), "s"),
    Check("resume.header", "resume with Last-Event-ID header", "resume-header", CONTRACT, _resume("header")),
    Check("resume.query", "resume with ?lastEventId=", "resume-query", CONTRACT, _resume("query")),
    Check("resume.after-end-204", "204 on reconnect after the end", "live", CONTRACT, _after_end, events=True),
    Check("resume.last-event-id", "what a reconnect with Last-Event-ID gets", "resume-sse", SSE,
          lambda obs, o: checks.sse_resume(*obs.sse_resume)),
    Check("stream.stalled", "event: stalled when a job goes silent", "stall", CONTRACT,
          lambda obs, o: checks.stalled(obs.stall, o.stall_after_s)),
    Check("stream.slow-reader", "a reader that stops reading is disconnected", "slow", CONTRACT,
          lambda obs, o: slow_reader.judge(obs.slow_reader)),
    Check("stream.lifetime", "a stream ends cleanly within SSE_CONNECTION_TIMEOUT", "lifetime", CONTRACT,
          lambda obs, o: checks.lifetime(obs.lifetime, o.max_lifetime_s), "s"),
    Check("sessions.api", "sessions and jobs answer as the contract's table", "probe", CONTRACT,
          lambda obs, o: probes.sessions_api(obs.api)),
    Check("poll.etag", "polling endpoint, ETag and 304", "probe", CONTRACT, lambda obs, o: probes.poll_etag(*obs.poll)),
    Check("auth.unauthenticated", "401 without credentials", "probe", CONTRACT,
          lambda obs, o: probes.unauthenticated(obs.unauth)),
    Check("auth.cross-user", "404 for another user's session", "probe", CONTRACT,
          lambda obs, o: probes.cross_user(obs.cross, obs.cross_reason)),
    Check("input.malformed", "malformed input answered 4xx, never 5xx", "probe", CONTRACT,
          lambda obs, o: probes.malformed(obs.malformed)),
    Check("stream.release", "a closed stream is released at once", "probe", CONTRACT,
          lambda obs, o: probes.release(*obs.release, obs.release_reason)),
    Check("cap.per-user", "per-user stream cap (429 with Retry-After)", "cap", CONTRACT,
          lambda obs, o: probes.per_user_cap(obs.cap[0], obs.cap[1], o.expect_cap)),
    Check("cors.credentials", "CORS with credentials", "probe", CONTRACT,
          lambda obs, o: probes.cors(o.origin, *obs.cors)),
    Check("bus.down-503", "503 with Retry-After and a reason while Redis is down; recovery after", "bus", CONTRACT,
          lambda obs, o: hooks.bus_down(obs.bus, o), "s"),
    Check("shutdown.sigterm", "SIGTERM ends open streams cleanly within the grace period", "shutdown", CONTRACT,
          lambda obs, o: hooks.sigterm(obs.shutdown, o), "s"),
)
BY_ID = {check.id: check for check in CHECKS}


def select_checks(only: list[str] | None, profile: str = "contract") -> list[str]:
    """Check ids of ``profile`` matching ``only`` (exact ids or group prefixes like ``headers``); all
    when empty. Raises ``ValueError`` naming an entry that matches nothing."""
    mine = [c for c in CHECKS if profile in c.profiles]
    if not only:
        return [c.id for c in mine]
    chosen: list[str] = []
    for raw in only:
        for wanted in filter(None, (w.strip() for w in raw.split(","))):
            matches = [c.id for c in mine if c.id == wanted or c.id.startswith(wanted.rstrip(".") + ".")]
            if not matches:
                groups = sorted({c.id.split(".")[0] for c in mine})
                raise ValueError(f"--only {wanted!r} matches no check of the {profile} profile; groups: "
                                 f"{', '.join(groups)}; ids: {', '.join(c.id for c in mine)}")
            chosen.extend(m for m in matches if m not in chosen)
    return [c.id for c in mine if c.id in chosen]
