"""What a check run produces: one result per check, and the report that holds them.

Every result says three things a person needs at 2 a.m.: did it pass, what is wrong and how to fix it
(one line), and the measured evidence behind the verdict — so a result can be argued with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["CheckResult", "Outcome", "Report"]


class Outcome(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    #: not measured (not applicable, or needs an option or events this run did not have)
    SKIP = "skip"


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
        from conformance.catalog import BY_ID  # the declaration of each check lives there

        return BY_ID[self.id].title if self.id in BY_ID else self.id

    @property
    def metric_unit(self) -> str | None:
        from conformance.catalog import BY_ID

        spec = BY_ID.get(self.id)
        return spec.metric_unit if spec else None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "outcome": self.outcome.value, "message": self.message,
                "metric": self.metric, "metric_unit": self.metric_unit, "evidence": self.evidence}


PROFILE_TEXT = {"contract": "this project's API contract (docs/contract.md)",
                "sse": "any SSE stream (headers, timing, heartbeat, buffering, resume)"}


@dataclass
class Report:
    url: str
    results: list[CheckResult]
    http_version: str | None = None
    duration_s: float = 0.0
    started_at: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    profile: str = "contract"

    @property
    def ok(self) -> bool:
        """True when something was checked and no check failed (warnings do not fail a run)."""
        return self.checked and not any(r.outcome is Outcome.FAIL for r in self.results)

    @property
    def checked(self) -> bool:
        """False when every selected check was skipped: nothing was measured, which is not a pass."""
        return any(r.outcome is not Outcome.SKIP for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 all checks that ran passed, 1 a check failed, 2 nothing was checked."""
        if any(r.outcome is Outcome.FAIL for r in self.results):
            return 1
        return 0 if self.checked else 2

    def headline(self) -> str:
        """The report's first line: which profile ran, against what."""
        return f"profile {self.profile}: {PROFILE_TEXT.get(self.profile, self.profile)} — {self.url}"

    def nothing_checked(self) -> str:
        """The line for a run that measured nothing: what could not run, and why."""
        reasons: dict[str, list[str]] = {}
        for r in self.results:
            reasons.setdefault(r.message, []).append(r.id)
        parts = [f"{', '.join(ids)}: {reason}" for reason, ids in reasons.items()]
        return (f"nothing checked: all {len(self.results)} selected checks were skipped — " + "; ".join(parts)
                if self.results else "nothing checked: no check was selected")

    def counts(self) -> dict[str, int]:
        return {o.value: sum(r.outcome is o for r in self.results) for o in Outcome}

    def get(self, check_id: str) -> CheckResult | None:
        return next((r for r in self.results if r.id == check_id), None)

    def summary(self) -> str:
        c = self.counts()
        failed = [r.id for r in self.results if r.outcome is Outcome.FAIL]
        verdict = "FAILED" if failed else "OK" if self.checked else "NOTHING CHECKED"
        text = (f"{verdict}: {c['pass']} passed, {c['warn']} warnings, {c['fail']} failed, {c['skip']} skipped "
                f"in {self.duration_s:.1f}s ({self.url}, profile {self.profile}, "
                f"{self.http_version or 'no response'})")
        if failed:
            text += f" — failed: {', '.join(failed)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "profile": self.profile, "ok": self.ok, "exit_code": self.exit_code,
                "http_version": self.http_version, "started_at": self.started_at,
                "duration_s": round(self.duration_s, 3), "counts": self.counts(), "summary": self.summary(),
                "settings": self.settings, "results": [r.as_dict() for r in self.results]}
