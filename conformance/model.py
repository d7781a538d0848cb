"""What a check run produces: one result per check, and the report that holds them.

Every result says three things a person needs at 2 a.m.: did it pass, what is wrong and how to fix it
(one line), and the measured evidence behind the verdict — so a result can be argued with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["CHECKS", "CheckResult", "CheckSpec", "Outcome", "Report", "select_checks"]


class Outcome(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    #: not measured (not applicable, or needs an option or events this run did not have)
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class CheckSpec:
    id: str
    title: str
    #: the measured number compared by ``--compare``, with its unit (None: nothing to compare)
    metric_unit: str | None = None


#: Every check, in report order. Ids are stable: CI filters and JUnit names depend on them.
CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("stream.open", "stream answers 200"),
    CheckSpec("headers.content-type", "Content-Type text/event-stream"),
    CheckSpec("headers.cache-control", "Cache-Control no-cache, no-transform"),
    CheckSpec("headers.content-encoding", "no Content-Encoding (gzip/br offered)"),
    CheckSpec("headers.content-length", "no Content-Length"),
    CheckSpec("headers.x-accel-buffering", "X-Accel-Buffering: no"),
    CheckSpec("headers.connection-h2", "no Connection header on HTTP/2"),
    CheckSpec("timing.headers", "time to headers", "ms"),
    CheckSpec("timing.first-event", "time to first event", "ms"),
    CheckSpec("stream.retry", "retry: field sent"),
    CheckSpec("stream.ids", "id on every event, strictly increasing"),
    CheckSpec("stream.payload", "status payloads valid"),
    CheckSpec("stream.not-buffered", "events arrive as published (no buffering)", "ms"),
    CheckSpec("stream.terminal-close", "stream ends after the final status"),
    CheckSpec("heartbeat.interval", "heartbeat while idle", "s"),
    CheckSpec("idle.survival", "idle stream survives", "s"),
    CheckSpec("resume.header", "resume with Last-Event-ID header"),
    CheckSpec("resume.query", "resume with ?lastEventId="),
    CheckSpec("resume.after-end-204", "204 on reconnect after the end"),
    CheckSpec("poll.etag", "polling endpoint, ETag and 304"),
    CheckSpec("auth.unauthenticated", "401 without credentials"),
    CheckSpec("auth.cross-user", "404 for another user's session"),
    CheckSpec("input.malformed", "malformed input never 5xx"),
    CheckSpec("cap.per-user", "per-user stream cap (429)"),
    CheckSpec("cors.credentials", "CORS with credentials"),
)
SPECS_BY_ID = {spec.id: spec for spec in CHECKS}


def select_checks(only: list[str] | None) -> list[str]:
    """Check ids matching ``only`` (exact ids or group prefixes like ``headers``); all when empty.

    Raises ``ValueError`` naming an entry that matches nothing.
    """
    if not only:
        return [spec.id for spec in CHECKS]
    chosen: list[str] = []
    for raw in only:
        for wanted in filter(None, (w.strip() for w in raw.split(","))):
            matches = [s.id for s in CHECKS if s.id == wanted or s.id.startswith(wanted.rstrip(".") + ".")]
            if not matches:
                groups = sorted({s.id.split(".")[0] for s in CHECKS})
                raise ValueError(f"--only {wanted!r} matches no check; groups: {', '.join(groups)}; "
                                 f"ids: {', '.join(s.id for s in CHECKS)}")
            chosen.extend(m for m in matches if m not in chosen)
    return [s.id for s in CHECKS if s.id in chosen]


@dataclass
class CheckResult:
    id: str
    outcome: Outcome
    #: one line: what is wrong and how to fix it (or, on a pass, what was seen)
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    metric: float | None = None

    @property
    def title(self) -> str:
        return SPECS_BY_ID[self.id].title if self.id in SPECS_BY_ID else self.id

    @property
    def metric_unit(self) -> str | None:
        spec = SPECS_BY_ID.get(self.id)
        return spec.metric_unit if spec else None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "outcome": self.outcome.value, "message": self.message,
                "metric": self.metric, "metric_unit": self.metric_unit, "evidence": self.evidence}


@dataclass
class Report:
    url: str
    results: list[CheckResult]
    http_version: str | None = None
    duration_s: float = 0.0
    started_at: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check failed: warnings and skips do not fail a run."""
        return not any(r.outcome is Outcome.FAIL for r in self.results)

    def counts(self) -> dict[str, int]:
        return {o.value: sum(r.outcome is o for r in self.results) for o in Outcome}

    def get(self, check_id: str) -> CheckResult | None:
        return next((r for r in self.results if r.id == check_id), None)

    def summary(self) -> str:
        c = self.counts()
        failed = [r.id for r in self.results if r.outcome is Outcome.FAIL]
        verdict = "FAILED" if failed else "OK"
        text = (f"{verdict}: {c['pass']} passed, {c['warn']} warnings, {c['fail']} failed, {c['skip']} skipped "
                f"in {self.duration_s:.1f}s ({self.url}, {self.http_version or 'no response'})")
        if failed:
            text += f" — failed: {', '.join(failed)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "ok": self.ok, "http_version": self.http_version, "started_at": self.started_at,
                "duration_s": round(self.duration_s, 3), "counts": self.counts(), "summary": self.summary(),
                "settings": self.settings, "results": [r.as_dict() for r in self.results]}
