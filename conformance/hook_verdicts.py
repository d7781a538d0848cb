"""The judges of the operator-hook checks (``bus.down-503``, contract point 11; ``shutdown.sigterm``, point 8),
apart from the phases that observe (conformance/hooks.py), so each verdict path is testable with hand-made
observations. A judge only passes what was measured: no open tried, a stream that ended before the signal, a
lifetime that could end the streams by itself, are "not measured"."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from typing import Any

from conformance.client import StreamRecord
from conformance.model import CheckResult, Outcome
from conformance.options import CheckOptions
from conformance.probes import Probe
from sse_contract.constants import UNAVAILABLE_REASONS as REASONS

#: how long the target may take to notice that Redis went away, polled this often
NOTICE_S, POLL_S = 10.0, 0.5
#: streams must end (and the process stop answering) within --shutdown-grace-s plus this (delivery, scheduling)
SHUTDOWN_MARGIN_S = 1.0
#: the reasons that name a Redis outage (11.): queue_full and deadline are the admission queue's answers
#: under a reconnect storm with a *healthy* Redis, shutting_down is SIGTERM's (8.): each would misname an outage
OUTAGE_REASONS = ("redis_unreachable", "pool_saturated", "bus_unavailable")


@dataclass
class BusOutage:
    """Answers while Redis was down (the last polling round), and how the target came back."""

    stream: Probe | None = None
    healthz: Probe | None = None
    route: Probe | None = None
    #: seconds after --bus-down-cmd returned until every answer was a 503 (None: never)
    noticed_after_s: float | None = None
    #: seconds after --bus-up-cmd returned until /healthz 200, a snapshot and a live status (None: never)
    recovered_after_s: float | None = None
    recovery: list[str] = field(default_factory=list)
    #: False with --trigger none: no job could be started, so only /healthz and a snapshot were seen
    live_checked: bool = True


@dataclass
class Shutdown:
    """The streams open when --shutdown-cmd ran, the new opens tried during the shutdown, and the answer
    --shutdown-grace-s + 1 s after the command started."""

    streams: list[StreamRecord] = field(default_factory=list)
    #: per stream: seconds after the command started until the stream ended (None: still open at the deadline)
    ended_after_s: list[float | None] = field(default_factory=list)
    opens: list[Probe] = field(default_factory=list)
    #: an open tried at grace + margin: only a refused connection says the process is gone
    after_grace: Probe | None = None
    not_run: str | None = None


def _r(check_id: str, outcome: Outcome, message: str, metric: float | None = None, /,
       **evidence: Any) -> CheckResult:
    return CheckResult(check_id, outcome, message, evidence, metric)


def _retry_after_ok(value: str | None) -> bool:
    if not value:
        return False
    if value.strip().isdigit():
        return True
    return email.utils.parsedate_tz(value) is not None


def refusal_problem(probe: Probe, what: str, reasons: tuple[str, ...] = REASONS) -> str | None:
    """Why ``probe`` is not a contract 503 (Retry-After, a JSON body with one of ``reasons``), or None."""
    if probe.status is None:
        return f"{what}: no answer ({probe.error})"
    if probe.status != 503:
        return f"{what} answered {probe.status}, not 503"
    if not _retry_after_ok(probe.headers.get("retry-after")):
        return f"{what}: 503 without Retry-After (clients and load balancers do not know when to retry)"
    body = probe.json()
    reason = body.get("reason") if isinstance(body, dict) else None
    if reason is None:
        return f"{what}: no reason in the 503 body (the contract's: {', '.join(REASONS)})"
    if reason not in REASONS:
        return f"{what}: 503 reason {reason!r} is not one of the contract's ({', '.join(REASONS)})"
    if reason not in reasons:
        return f"{what}: 503 reason {reason!r} misnames the cause (expected one of: {', '.join(reasons)})"
    return None


def refused(probe: Probe) -> bool:
    """A refused connection (nothing listens): httpx's ConnectError. A reset, an accepted connection closed
    without an answer or a timeout are not refusals: a client sees an error, not "go elsewhere"."""
    return probe.status is None and (probe.error or "").startswith("ConnectError")


def bus_down(outage: BusOutage | None, o: CheckOptions) -> CheckResult:
    cid = "bus.down-503"
    if outage is None:
        return _r(cid, Outcome.SKIP, "not measured: opt-in (--bus-down-cmd/--bus-up-cmd)")
    evidence = {"stream": outage.stream.short() if outage.stream else None,
                "healthz": outage.healthz.short() if outage.healthz else None,
                "route": outage.route.short() if outage.route else None,
                "noticed_after_s": outage.noticed_after_s, "recovered_after_s": outage.recovered_after_s,
                "recovery": outage.recovery}
    stream, health, route = outage.stream, outage.healthz, outage.route
    if stream is None or health is None or route is None:
        return _r(cid, Outcome.SKIP, "not measured: no answer recorded while Redis was down", **evidence)
    if stream.status == health.status == route.status == 200:
        return _r(cid, Outcome.FAIL, f"everything answered 200 for {NOTICE_S:g} s after --bus-down-cmd: either the "
                  "command took nothing down or the target ignores the outage — 11.", **evidence)
    window = f"(within {NOTICE_S:g} s after --bus-down-cmd)"
    if stream.status == 200:
        return _r(cid, Outcome.FAIL, f"a stream opened with 200 while Redis was down {window}: it would never "
                  "receive anything — 11. says 503 with Retry-After", **evidence)
    problem = refusal_problem(stream, "the stream open while Redis was down", OUTAGE_REASONS)
    if problem is None and health.status == 200:
        problem = (f"/healthz answered 200 while Redis was down {window}: a load balancer keeps sending traffic "
                   "to an instance that cannot stream; answer 503 {\"status\": \"degraded\"}")
    elif problem is None and health.status != 503:
        problem = f"/healthz answered {health.status or health.error} while Redis was down, not 503"
    elif problem is None and not (isinstance(health.json(), dict) and health.json().get("status") == "degraded"):
        problem = f"/healthz answered 503 without {{\"status\": \"degraded\"}}: {health.body[:80]!r}"
    if problem is None:
        problem = refusal_problem(route, f"GET {route.path} (needs Redis) while Redis was down", OUTAGE_REASONS)
    if problem is not None:
        return _r(cid, Outcome.FAIL, problem + " — 11.", **evidence)
    if outage.recovered_after_s is None:
        last = outage.recovery[-1] if outage.recovery else "no answer"
        return _r(cid, Outcome.FAIL, f"did not recover within {o.recover_s:g} s after --bus-up-cmd (last: {last}): "
                  "the target must come back by itself when Redis returns", **evidence)
    live = (" and a live status of a new job on a stream)" if outage.live_checked
            else "; live delivery not checked: --trigger none starts no job)")
    return _r(cid, Outcome.PASS, f"503 with Retry-After and reason {stream.json().get('reason')!r} while Redis was "
              f"down, /healthz 503; recovered {outage.recovered_after_s:.1f} s after --bus-up-cmd (/healthz 200, "
              f"a snapshot{live}", outage.recovered_after_s, **evidence)


def lifetime_problem(o: CheckOptions) -> str | None:
    """Streams that may end by their own lifetime within the window cannot show that SIGTERM ended them."""
    window = o.shutdown_grace_s + SHUTDOWN_MARGIN_S
    if o.max_lifetime_s is not None and 0.8 * o.max_lifetime_s <= window:
        return (f"streams may end by their lifetime (0.8 x --max-lifetime-s = {0.8 * o.max_lifetime_s:g} s) within "
                f"--shutdown-grace-s + {SHUTDOWN_MARGIN_S:g} s = {window:g} s; the command was not run")
    return None


def sigterm(shutdown: Shutdown | None, o: CheckOptions) -> CheckResult:
    cid = "shutdown.sigterm"
    if shutdown is None:
        return _r(cid, Outcome.SKIP, "not measured: opt-in (--shutdown-cmd)")
    if shutdown.not_run is not None:
        return _r(cid, Outcome.SKIP, f"not measured: {shutdown.not_run}")
    grace = o.shutdown_grace_s
    window = grace + SHUTDOWN_MARGIN_S
    evidence = {"ended_after_s": shutdown.ended_after_s, "ends": [r.end for r in shutdown.streams],
                "errors": [r.error for r in shutdown.streams if r.error], "opens": [p.short() for p in shutdown.opens],
                "after_grace": shutdown.after_grace.short() if shutdown.after_grace else None, "grace_s": grace}
    if (problem := lifetime_problem(o)) is not None:
        return _r(cid, Outcome.SKIP, f"not measured: {problem}", **evidence)
    if any(after is not None and after < 0 for after in shutdown.ended_after_s):
        return _r(cid, Outcome.SKIP, "not measured: a stream ended before --shutdown-cmd started (its lifetime or "
                  "the target, not SIGTERM)", **evidence)
    latest = max((t for t in shutdown.ended_after_s if t is not None), default=None)
    for record, after in zip(shutdown.streams, shutdown.ended_after_s, strict=True):
        if after is None:
            return _r(cid, Outcome.FAIL, f"stream still open {window:g} s after SIGTERM (grace "
                      f"{grace:g} s) — 8.: end every stream on SIGTERM so the process can exit (a deploy otherwise "
                      "waits for streams that never finish)", **evidence)
        if record.end == "cut":
            return _r(cid, Outcome.FAIL, f"the stream was cut (reset), not ended: clients see an error ({record.error}"
                      ") — 8.: end the response (the final chunk) so clients resume elsewhere", **evidence)
        if after > window:
            return _r(cid, Outcome.FAIL, f"a stream ended {after:.1f} s after SIGTERM, past the grace of {grace:g} s"
                      " — 8.", after, **evidence)
    for probe in shutdown.opens:
        if probe.status == 200:
            return _r(cid, Outcome.FAIL, "a stream was accepted (200) during shutdown — 8.: new stream requests get "
                      "503 with Retry-After", latest, **evidence)
        if probe.status is None and not refused(probe):
            return _r(cid, Outcome.FAIL, f"a new stream open during shutdown got {probe.error}: refuse it (503 with "
                      "Retry-After) or stop listening (connection refused) — 8.", latest, **evidence)
        if probe.status is not None:
            problem = refusal_problem(probe, "a new stream open during shutdown")
            if problem is not None:
                return _r(cid, Outcome.FAIL, problem + " — 8.", latest, **evidence)
    if not shutdown.opens:
        return _r(cid, Outcome.SKIP, "not measured: no new open was tried during the shutdown (the command had not "
                  "returned and no stream had ended)", latest, **evidence)
    after_grace = shutdown.after_grace
    if after_grace is None:
        return _r(cid, Outcome.SKIP, f"not measured: whether the target exited within {window:g} s", latest,
                  **evidence)
    if not refused(after_grace):
        answer = after_grace.status if after_grace.status is not None else after_grace.error
        return _r(cid, Outcome.FAIL, f"still answering ({answer}) {window:g} s after SIGTERM (grace {grace:g} s) — "
                  "8.: the process must exit within the grace (only a refused connection shows it did)", latest,
                  **evidence)
    answers = sorted({"refused" if p.status is None else f"503 {p.json().get('reason')}" for p in shutdown.opens})
    return _r(cid, Outcome.PASS, f"{len(shutdown.streams)} open streams ended cleanly {latest or 0:.2f} s after "
              f"SIGTERM (grace {grace:g} s); new opens: {', '.join(answers)}; connection refused {window:g} s after "
              "SIGTERM", latest, **evidence)
