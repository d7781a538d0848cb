"""The judgements of the plain HTTP probes (contract profile): polling, auth, malformed input, the
per-user cap, CORS, the release of a closed stream. Pure, like ``conformance.checks``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.client import one_line
from conformance.model import CheckResult, Outcome
from sse_contract.status import StatusUpdate

__all__ = ["Probe", "one_line"]


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


def _r(check_id: str, outcome: Outcome, message: str, /, **evidence: Any) -> CheckResult:
    return CheckResult(check_id, outcome, message, evidence)


# -- plain HTTP probes ----------------------------------------------------------------------------------------

def poll_etag(first: Probe | None, second: Probe | None) -> CheckResult:
    if first is None:
        return _r("poll.etag", Outcome.SKIP, "not measured: no session")
    evidence: dict[str, Any] = {"status": first.status, "etag": first.headers.get("etag"),
                                "second_status": second.status if second else None}
    if first.status != 200:
        return _r("poll.etag", Outcome.FAIL, f"GET {first.path} answered {first.status or first.error}: the polling "
                  "fallback (for clients that cannot stream) must answer 200 with the status JSON", **evidence)
    try:
        StatusUpdate.from_json(first.body)
    except ValueError:
        return _r("poll.etag", Outcome.FAIL, f"the polling body is not a status: {one_line(first.body, 120)!r}",
                  **evidence)
    cache = first.headers.get("cache-control", "")
    if "no-cache" not in cache.lower() and "no-store" not in cache.lower():
        return _r("poll.etag", Outcome.FAIL, f"the polling answer has Cache-Control {cache or 'missing'!r}: a cache "
                  "may serve an old status; send Cache-Control: no-cache (with the ETag)", **evidence)
    etag = first.headers.get("etag")
    if not etag:
        return _r("poll.etag", Outcome.FAIL, "no ETag: every poll transfers the whole status; send ETag "
                  "\"<seq>\" and answer 304 to If-None-Match", **evidence)
    if second is None or second.status != 304:
        got = second.status if second else None
        return _r("poll.etag", Outcome.FAIL, f"If-None-Match: {etag} answered {got}, not 304: every poll "
                  "transfers the whole status again", **evidence)
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
        return _r("auth.unauthenticated", Outcome.FAIL, f"{other[0].short()} without credentials: the contract "
                  "says 401 with WWW-Authenticate: Bearer", **evidence)
    bare = [p for p in probes if not p.headers.get("www-authenticate", "").lower().startswith("bearer")]
    if bare:
        return _r("auth.unauthenticated", Outcome.FAIL, f"{bare[0].label}: 401 without WWW-Authenticate: Bearer "
                  f"(got {bare[0].headers.get('www-authenticate')!r}); send it with every 401", **evidence)
    return _r("auth.unauthenticated", Outcome.PASS, "401 with WWW-Authenticate: Bearer for the stream and the "
              "status", **evidence)


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
        return _r("auth.cross-user", Outcome.FAIL, f"{other[0].short()}: answer 404 for missing and foreign "
                  "sessions alike (403 tells an attacker the session exists)", **evidence)
    bodies = {p.body for p in probes}
    foreign, missing = probes[0].body, probes[-1].body
    if foreign != missing:
        return _r("auth.cross-user", Outcome.FAIL, "404 for both, but the bodies differ (another user's: "
                  f"{one_line(foreign, 60)!r}, a missing one: {one_line(missing, 60)!r}): answer the same body so "
                  "ids cannot be probed", bodies=sorted(bodies), **evidence)
    return _r("auth.cross-user", Outcome.PASS, "404 with the same body for another user's session and for a "
              "missing one", **evidence)


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
        return _r("input.malformed", Outcome.FAIL, f"{p.short()}, expected {want}", **evidence)
    return _r("input.malformed", Outcome.PASS, f"{len(probes)} malformed requests, no 5xx", **evidence)


SESSION_FIELDS = frozenset({"id", "title", "created_at", "task_id"})


def sessions_api(steps: Sequence[Probe]) -> CheckResult:
    """docs/contract.md "Sessions and jobs": 201 with id, title, created_at, task_id null; the session
    200; its first status pending with seq 1; a job 202 with task_id; a second job 409; /healthz ok."""
    if not steps:
        return _r("sessions.api", Outcome.SKIP, "not measured: needs --trigger http (the API's own hooks)")
    evidence = {"probes": [p.short() for p in steps]}
    for probe in steps:
        if probe.status is None or str(probe.status) != probe.expect:
            return _r("sessions.api", Outcome.FAIL, f"{probe.label} answered {probe.status or probe.error} "
                      f"({one_line(probe.body, 80)!r}), the contract says {probe.expect}", **evidence)
        data = probe.json()
        if probe.label == "POST /sessions":
            missing = sorted(SESSION_FIELDS - set(data)) if isinstance(data, dict) else sorted(SESSION_FIELDS)
            if missing or data.get("task_id") is not None:
                return _r("sessions.api", Outcome.FAIL, f"POST /sessions answered {one_line(probe.body, 100)!r}: "
                          "the contract's body is {id, title, created_at, task_id: null}", **evidence)
        if probe.label == "its first status" and not (
                isinstance(data, dict) and data.get("status") == "pending" and data.get("seq") == 1):
            return _r("sessions.api", Outcome.FAIL, f"a new session's status is {one_line(probe.body, 100)!r}: it "
                      "starts pending with seq 1", **evidence)
        if probe.label == "POST .../transcribe" and not (isinstance(data, dict) and data.get("task_id")):
            return _r("sessions.api", Outcome.FAIL, "202 from transcribe without a task_id", **evidence)
        if probe.label == "GET /healthz" and not (isinstance(data, dict) and data.get("status") == "ok"):
            return _r("sessions.api", Outcome.FAIL, f"/healthz answered {one_line(probe.body, 80)!r}, not "
                      '{"status": "ok"}', **evidence)
    return _r("sessions.api", Outcome.PASS, "create 201, read 200, pending seq 1, job 202, second job 409, "
              "healthz ok", **evidence)


def per_user_cap(statuses: Sequence[int], retry_after: str | None, expected: int) -> CheckResult:
    """``expected`` + 1 streams were opened (or fewer, up to the first refusal): the last must be a 429
    with Retry-After. A lower cap is within the contract ("at most")."""
    if not statuses:
        return _r("cap.per-user", Outcome.SKIP, "not measured (--expect-cap 0)")
    opened = sum(1 for s in statuses if s == 200)
    last = statuses[-1]
    evidence = {"opened": opened, "last_status": last, "retry_after": retry_after, "expected_cap": expected,
                "statuses": list(statuses)}
    if last == 429:
        if not retry_after:
            return _r("cap.per-user", Outcome.FAIL, f"429 after {opened} streams but no Retry-After: tell clients "
                      "when to retry", **evidence)
        note = "" if opened == expected else f" (below the expected {expected}: another stream may still count)"
        return _r("cap.per-user", Outcome.PASS, f"429 with Retry-After {retry_after} after {opened} open streams"
                  + note, **evidence)
    if last != 200:
        return _r("cap.per-user", Outcome.FAIL, f"stream {len(statuses)} answered {last}: past the cap answer 429 "
                  "with Retry-After", **evidence)
    return _r("cap.per-user", Outcome.FAIL, f"no 429 for stream {len(statuses)} of one user (expected cap "
              f"{expected}, --expect-cap): a tab or retry loop can exhaust the server; answer 429 with "
              "Retry-After past the cap", **evidence)


def release(before: int | None, during: int | None, after: list[int], reason: str | None = None) -> CheckResult:
    """Contract point 9: a client that goes away is noticed at once (``/streams/me`` counts it)."""
    if during is None or before is None:
        return _r("stream.release", Outcome.SKIP, f"not measured: {reason or 'GET /api/v1/streams/me unavailable'}")
    evidence = {"open_before": before, "open_during": during, "open_after": after}
    if during <= before:
        return _r("stream.release", Outcome.SKIP, "not measured: /streams/me did not count the open stream "
                  "(several API processes behind this URL?)", **evidence)
    if not after or after[-1] > before:
        return _r("stream.release", Outcome.FAIL, f"the closed stream still counted {len(after) * 0.1:.1f} s after "
                  "the client went away: notice a disconnect at once (not at the next heartbeat) and release "
                  "its subscription", **evidence)
    return _r("stream.release", Outcome.PASS, f"released {len(after) * 100} ms after the client went away",
              **evidence)


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
