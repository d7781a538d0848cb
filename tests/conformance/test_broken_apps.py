"""Each deliberately broken server fails exactly the check that names its flaw.

The servers are ``contract_app`` variants on a real uvicorn; the clean variant passes every check, so a
failure below is caused by the flaw, not by the checker disliking a second implementation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from conformance import CheckOptions, Outcome, Report, run_sync
from reference_app.launcher import serve_asgi
from tests.conformance.contract_app import Flaws, create_app
from tests.conformance.helpers import assert_all_pass

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

#: a short job: 5 updates 200 ms apart (~1.2 s), long enough to see buffering, short enough for CI
FAST = {"steps": 5, "interval_ms": 200}
HEARTBEAT_S = 0.5


def check(url: str, **options: object) -> Report:
    return run_sync(CheckOptions(url, dev_login="alice", **{"idle_s": 1.5, **FAST, **options}))  # type: ignore[arg-type]


def failed(report: Report) -> dict[str, str]:
    return {r.id: r.message for r in report.results if r.outcome is Outcome.FAIL}


Serve = Callable[[Flaws], str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a contract app with the given flaws on a real uvicorn; all are stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda flaws: stack.enter_context(serve_asgi(create_app(flaws, heartbeat_s=HEARTBEAT_S)))


def test_clean_contract_app_passes_every_check(serve: Serve) -> None:
    report = check(serve(Flaws()), cap_probe=3, idle_limit_s=10)
    outcomes = {r.id: r.outcome.value for r in report.results}
    assert report.ok, report.summary()
    assert outcomes.pop("headers.connection-h2") == "skip"  # HTTP/1.1 on http://
    assert outcomes.pop("cors.credentials") == "skip"  # no --origin
    assert outcomes.pop("cap.per-user") == "warn"  # this app has no cap: 3 streams opened, no 429
    assert_all_pass(outcomes)
    assert report.get("heartbeat.interval").metric == pytest.approx(HEARTBEAT_S, abs=0.2)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("flaws", "options", "expected"),
    [
        pytest.param(Flaws(no_ids=True), {"only": ["stream", "headers"]},
                     {"stream.ids": "carry no id: a reconnecting browser cannot resume"}, id="no-ids"),
        pytest.param(Flaws(no_heartbeat=True), {"only": ["heartbeat", "idle"], "idle_s": 2.5, "idle_limit_s": 2},
                     {"heartbeat.interval": "s without a byte: an intermediary with a 2 s idle limit"},
                     id="no-heartbeat"),
        pytest.param(Flaws(content_type="text/plain; charset=utf-8"), {"only": ["headers", "stream.open"]},
                     {"headers.content-type": "EventSource fails the connection for good"}, id="content-type"),
        pytest.param(Flaws(duplicate_on_resume=True), {"only": ["resume.header", "resume.query"]},
                     {"resume.header": "duplicate events after resuming with Last-Event-ID: ",
                      "resume.query": "duplicate events after resuming with ?lastEventId="},
                     id="duplicates-on-resume"),
        pytest.param(Flaws(gzip=True), {"only": ["headers", "stream"]},
                     {"headers.content-encoding": "the stream is compressed (Content-Encoding: gzip)",
                      "stream.not-buffered": "in one burst at the end"}, id="gzip"),
        pytest.param(Flaws(keep_open_after_end=True), {"only": ["stream.terminal-close"]},
                     {"stream.terminal-close": "still open 2.0 s after the final status"}, id="never-ends"),
        pytest.param(Flaws(no_204=True), {"only": ["resume.after-end-204", "stream.terminal-close"]},
                     {"resume.after-end-204": "a browser EventSource reconnects forever"}, id="no-204"),
    ],
)
def test_flaw_fails_its_check(serve: Serve, flaws: Flaws, options: dict[str, object],
                              expected: dict[str, str]) -> None:
    report = check(serve(flaws), **options)
    got = failed(report)
    assert set(got) == set(expected), report.summary()
    for check_id, fragment in expected.items():
        assert fragment in got[check_id], got[check_id]
    assert not report.ok
