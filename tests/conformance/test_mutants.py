"""The mutation suite: for every numbered point and every header of docs/contract.md, a server that breaks
exactly that point, and the proof that the checker fails it with the check that names the problem.

The servers are one ``contract_app`` on a real uvicorn whose flaws are switched between runs (``set_flaws``):
the mutant is in the server, never in the checker's expectations. Every run is a full default run (all
checks of the contract profile), so the assertion "only these checks fail" means something: ``MUST`` fail
with the given words; ``MAY`` (a consequence that itself names the same cause) fail only with its words;
nothing else fails. The clean app passes every check with exit 0.

Point 10 (stalled) is opt-in (``--stall-after-s``: it costs twice the target's STATUS_STALL_AFTER_S, 120 s by
default); the runs here pass 1 s. Point 11 (the status bus down) is opt-in too: the operator hooks
``--bus-down-cmd``/``--bus-up-cmd`` switch the app's bus through a test-only route (``POST /_test/bus/down``).
Point 8 (SIGTERM, ``--shutdown-cmd``) needs the signal to reach the process serving the stream: its mutants run
the app in a process of its own, in test_mutants_sigterm.py. Point 7 (a slow reader is cut) is opt-in too
(``--send-timeout-s``: it costs the long job plus the target's SSE_SEND_TIMEOUT_S); the app cuts after 1 s.
The Connection header on HTTP/2 has its own HTTP/2 server in test_http2_connection_header.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from conformance import CheckOptions, Outcome, Report, SetupError, run_sync
from reference_app.launcher import serve_asgi
from tests.conformance.contract_app import LIFETIME_S, SEND_TIMEOUT_S, Flaws, create_app, set_flaws
from tests.conformance.helpers import post_cmd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

HEARTBEAT_S = 0.5
#: a short job (5 updates 200 ms apart), a 1 s idle window, and a 3 s idle limit: a stream that sends
#: nothing for 3 s has no heartbeat (the app pings every 0.5 s)
OPTIONS: dict[str, Any] = {"steps": 5, "interval_ms": 200, "idle_s": 1.0, "idle_limit_s": 3.0}
#: the app reports a job silent for 1 s as stalled; the opt-in check costs ~4 s, so only where it matters
STALL = {"stall_after_s": 1.0}
#: point 7: the app's send timeout (contract_app.SEND_TIMEOUT_S); the opt-in check costs ~4 s
SLOW = {"send_timeout_s": SEND_TIMEOUT_S}
#: the app ends streams after 80-100 % of LIFETIME_S; the opt-in check holds one that long
LIFETIME = {"max_lifetime_s": LIFETIME_S}
_users = itertools.count()


@dataclass(frozen=True)
class Mutant:
    point: str
    flaws: Flaws
    must: dict[str, str]
    may: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    #: run with --bus-down-cmd/--bus-up-cmd switching the app's bus (contract point 11)
    bus: bool = False


def bus_hooks(url: str) -> dict[str, Any]:
    return {"bus_down_cmd": post_cmd(f"{url}/_test/bus/down"), "bus_up_cmd": post_cmd(f"{url}/_test/bus/up")}


BUS_DOWN = "while Redis was down"
LIVE_LOSS = "on the live stream"
MUTANTS: dict[str, Mutant] = {
    # -- the stream's response headers
    "content-type-text-plain": Mutant("header Content-Type", Flaws(content_type="text/plain; charset=utf-8"),
                                      {"headers.content-type": "EventSource fails the connection for good"}),
    "cache-control-no-transform-missing": Mutant("header Cache-Control", Flaws(cache_control="no-cache"),
                                                 {"headers.cache-control": "lacks no-transform"}),
    "cache-control-cacheable": Mutant("header Cache-Control", Flaws(cache_control="public, max-age=60"),
                                      {"headers.cache-control": "a cache may store or coalesce the stream"}),
    "x-accel-buffering-missing": Mutant("header X-Accel-Buffering", Flaws(no_x_accel=True),
                                        {"headers.x-accel-buffering": "no X-Accel-Buffering header"}),
    "content-length": Mutant("header Content-Length", Flaws(content_length=True),
                             {"headers.content-length": "Content-Length: 100000000 on an endless stream"}),
    "content-encoding-gzip-flushed": Mutant("header Content-Encoding", Flaws(gzip_flush=True),
                                            {"headers.content-encoding": "the stream is compressed"}),
    "content-encoding-gzip-buffered": Mutant(
        "header Content-Encoding (and buffering)", Flaws(gzip=True),
        {"headers.content-encoding": "the stream is compressed",
         "stream.not-buffered": "the stream is gzip-compressed: compression holds events"},
        may={"timing.first-event": "no event at all within", "idle.survival": "nothing arrived",
             "heartbeat.interval": "no heartbeat", "resume.header": "gave no event id",
             "resume.query": "gave no event id", "stream.release": ""}),
    # -- Authentication
    "no-auth-on-the-stream": Mutant("Authentication: 401", Flaws(no_auth=True),
                                    {"auth.unauthenticated": "answered 200 without credentials"}),
    "401-without-www-authenticate": Mutant("Authentication: WWW-Authenticate", Flaws(no_www_authenticate=True),
                                           {"auth.unauthenticated": "401 without WWW-Authenticate: Bearer"}),
    "403-for-a-foreign-session": Mutant("Authentication: 404 for foreign", Flaws(forbid_foreign=True),
                                        {"auth.cross-user": "other user's stream: 403"}),
    "404-bodies-differ": Mutant("Authentication: same body", Flaws(foreign_body_differs=True),
                                {"auth.cross-user": "the bodies differ"}),
    "500-for-a-malformed-session-id": Mutant("Authentication: 422 for malformed ids", Flaws(malformed_id_500=True),
                                             {"input.malformed": "got a 5xx"}),
    # -- Sessions and jobs
    "no-409-for-a-second-job": Mutant("Sessions and jobs: 409", Flaws(no_409=True),
                                      {"sessions.api": "a second job answered 202"}),
    "session-without-created-at": Mutant("Sessions and jobs: the session body",
                                         Flaws(session_without_created_at=True),
                                         {"sessions.api": "the contract's body is {id, title, created_at"}),
    "no-etag": Mutant("Sessions and jobs: ETag", Flaws(no_etag=True), {"poll.etag": "no ETag"}),
    "no-304": Mutant("Sessions and jobs: 304", Flaws(no_304=True), {"poll.etag": "answered 200, not 304"}),
    "polling-cacheable": Mutant("Sessions and jobs: Cache-Control", Flaws(poll_cache_control="max-age=60"),
                                {"poll.etag": "Cache-Control 'max-age=60'"}),
    # -- A status
    "no-timestamp": Mutant("A status: timestamp", Flaws(no_timestamp=True),
                           {"stream.payload": "timestamp missing"}),
    "event-message": Mutant("2. event: status", Flaws(event_name="message"),
                            {"stream.payload": "statuses go as 'event: status'"}),
    "id-not-seq": Mutant("2. id: <seq>", Flaws(id_not_seq=True), {"stream.payload": "differs from its payload's seq"}),
    # -- 1. at once
    "no-retry": Mutant("1. retry:", Flaws(no_retry=True), {"stream.retry": "no retry: field"}),
    "late-first-event": Mutant("1. at once", Flaws(first_event_delay_s=1.5),
                               {"timing.first-event": "first event late"}),
    "reset-on-resume": Mutant("1. resume replays", Flaws(reset_on_resume=True),
                              {"resume.header": "an unneeded event: reset",
                               "resume.query": "an unneeded event: reset"}),
    "replay-skips-one": Mutant("1. resume replays every status", Flaws(replay_skips_one=True),
                               {"resume.header": "started at", "resume.query": "started at"}),
    "500-for-a-malformed-last-event-id": Mutant("1. malformed id counts as absent", Flaws(bad_last_event_id_500=True),
                                                {"input.malformed": "got a 5xx"}),
    # -- 2. ids +1 per session, no gap, no duplicate
    "no-ids": Mutant("2. id on every event", Flaws(no_ids=True), {"stream.ids": "carry no id"},
                     may={"resume.header": "gave no event id", "resume.query": "gave no event id"}),
    "ids-jump-by-2": Mutant("2. seq +1", Flaws(id_step=2), {"stream.ids": "ids jump by 2"}),
    "drops-every-4th": Mutant("2. never a gap", Flaws(drop_every=4), {"stream.ids": "lost on the live stream"},
                              may={"resume.header": LIVE_LOSS, "resume.query": LIVE_LOSS}),
    "duplicate-live": Mutant("2. never twice", Flaws(duplicate_live=True), {"stream.ids": "a duplicate on the live"},
                             may={"resume.header": LIVE_LOSS, "resume.query": LIVE_LOSS}),
    "duplicate-on-resume": Mutant("2. never twice (resume)", Flaws(duplicate_on_resume=True),
                                  {"resume.header": "duplicate events after resuming with Last-Event-ID: ",
                                   "resume.query": "duplicate events after resuming with ?lastEventId="}),
    # -- 3. heartbeat
    "no-heartbeat": Mutant("3. heartbeat", Flaws(no_heartbeat=True), {"heartbeat.interval": "no heartbeat: 3."}),
    # -- 4. the end
    "never-ends": Mutant("4. end after the final status", Flaws(keep_open_after_end=True),
                         {"stream.terminal-close": "still open 2.0 s after the final status"}),
    "no-204": Mutant("4. 204 past the end", Flaws(no_204=True),
                     {"resume.after-end-204": "a browser EventSource reconnects forever"}),
    # -- 5. a stream's end is clean (resumable), not a cut
    "cut-instead-of-ending": Mutant("5. lifetime end", Flaws(cut_after_s=2.5), {"idle.survival": "cut after 2."},
                                    options={"idle_s": 3.5}),
    "no-lifetime": Mutant("5. at most SSE_CONNECTION_TIMEOUT", Flaws(no_lifetime=True),
                          {"stream.lifetime": "still open after"}, options=LIFETIME),
    # -- 6. the per-user cap
    "no-cap": Mutant("6. 429 past the cap", Flaws(no_cap=True), {"cap.per-user": "no 429 for stream 21"}),
    "429-without-retry-after": Mutant("6. Retry-After", Flaws(cap_no_retry_after=True),
                                      {"cap.per-user": "no Retry-After"}),
    # -- 7. a client that stops reading is cut after the send timeout
    "no-send-timeout": Mutant("7. slow reader cut", Flaws(no_send_timeout=True),
                              {"stream.slow-reader": "is still connected (SSE_SEND_TIMEOUT_S 1)"}, options=SLOW),
    "send-timeout-leaves-open": Mutant("7. the stuck client is disconnected", Flaws(send_timeout_leaves_open=True),
                                       {"stream.slow-reader": "the connection stayed open holding"}, options=SLOW),
    # -- 9. a client that goes away is noticed at once
    "late-release": Mutant("9. disconnect noticed at once", Flaws(late_release=True),
                           {"stream.release": "still counted"}),
    # -- 10. a silent job is reported stalled
    "no-stalled-event": Mutant("10. event: stalled", Flaws(no_stalled=True),
                               {"stream.stalled": "no event: stalled came"}, options=STALL),
    # -- 11. the status bus down: 503 with Retry-After and a reason, /healthz 503, recovery
    "bus-down-streams-200": Mutant("11. no stream that never receives", Flaws(bus_down_streams_200=True),
                                   {"bus.down-503": "a stream opened with 200 while Redis was down"}, bus=True),
    "bus-down-503-without-retry-after": Mutant("11. Retry-After", Flaws(bus_down_no_retry_after=True),
                                               {"bus.down-503": "503 without Retry-After"}, bus=True),
    "bus-down-503-without-reason": Mutant("11. a reason in every 503", Flaws(bus_down_no_reason=True),
                                          {"bus.down-503": "no reason in the 503 body"}, bus=True),
    "healthz-ignores-the-bus": Mutant("/healthz 503 degraded", Flaws(healthz_ignores_bus=True),
                                      {"bus.down-503": "/healthz answered 200 while Redis was down"}, bus=True),
    "redis-route-500": Mutant("11. every route that needs Redis: 503", Flaws(bus_down_routes_500=True),
                              {"bus.down-503": "answered 500, not 503"}, bus=True),
    "no-recovery": Mutant("11. recovers when Redis returns", Flaws(no_recovery=True),
                          {"bus.down-503": "did not recover within 2 s after --bus-up-cmd"},
                          options={"recover_s": 2.0}, bus=True),
    "no-live-after-the-bus-returns": Mutant("11. recovers: live statuses reach streams again",
                                            Flaws(no_live_after_bus=True),
                                            {"bus.down-503": "no live status of a new job (the live delivery"},
                                            options={"recover_s": 3.0}, bus=True),
}


@pytest.fixture(scope="module")
def app() -> Starlette:
    return create_app(Flaws(), heartbeat_s=HEARTBEAT_S)


@pytest.fixture(scope="module")
def url(app: Starlette) -> Iterator[str]:
    with serve_asgi(app) as base:
        yield base


def check(url: str, **options: Any) -> Report:
    # a user of its own per run: the per-user cap and /streams/me must not count another run's streams
    return run_sync(CheckOptions(url, dev_login=f"user{next(_users)}", **{**OPTIONS, **options}))


def test_the_clean_app_passes_every_check(app: Starlette, url: str) -> None:
    set_flaws(app, Flaws())
    report = check(url, **STALL, **LIFETIME, **SLOW, **bus_hooks(url))
    outcomes = {r.id: r.outcome.value for r in report.results}
    assert report.exit_code == 0, report.summary()
    assert outcomes.pop("headers.connection-h2") == "skip" and outcomes.pop("cors.credentials") == "skip"
    assert outcomes.pop("shutdown.sigterm") == "skip"  # its own process: test_mutants_sigterm.py
    assert set(outcomes.values()) == {"pass"}, outcomes
    assert report.get("heartbeat.interval").metric == pytest.approx(HEARTBEAT_S, abs=0.25)  # type: ignore[union-attr]


def test_a_target_that_refuses_the_long_job_skips_the_slow_reader_naming_why(app: Starlette, url: str) -> None:
    set_flaws(app, Flaws(max_steps=100))
    try:
        report = check(url, only=["stream.slow-reader", "stream.retry"], **SLOW)
    finally:
        set_flaws(app, Flaws())
    result = report.get("stream.slow-reader")
    assert result is not None and result.outcome is Outcome.SKIP, report.summary()
    assert "not measured: the target refused a 5,000-status job (POST .../transcribe answered 422" in result.message
    assert report.exit_code == 0, report.summary()  # the other check ran: a skip, not a setup error


def test_a_network_error_in_the_slow_readers_poll_is_a_skip_naming_it(app: Starlette, url: str) -> None:
    set_flaws(app, Flaws(status_resets_after_job=True))
    try:
        report = check(url, only=["stream.slow-reader"], **SLOW)
    finally:
        set_flaws(app, Flaws())
    result = report.get("stream.slow-reader")
    assert result is not None and result.outcome is Outcome.SKIP, report.summary()
    assert "failed while the job ran: " in result.message, result.message
    assert report.exit_code == 2, report.summary()  # nothing else ran: nothing checked


@pytest.mark.parametrize("name", list(MUTANTS))
def test_each_mutant_fails_the_check_that_names_it(app: Starlette, url: str, name: str) -> None:
    mutant = MUTANTS[name]
    set_flaws(app, mutant.flaws)
    try:
        report = check(url, **mutant.options, **(bus_hooks(url) if mutant.bus else {}))
    finally:
        set_flaws(app, Flaws())
    failed = {r.id: r.message for r in report.results if r.outcome is Outcome.FAIL}
    assert report.exit_code == 1, report.summary()
    assert set(mutant.must) <= set(failed), (name, failed)
    for check_id, words in mutant.must.items():
        assert words in failed[check_id], (check_id, failed[check_id])
    extra = {k: v for k, v in failed.items() if k not in mutant.must}
    assert set(extra) <= set(mutant.may), (name, extra)
    for check_id, message in extra.items():
        assert mutant.may[check_id] in message, (check_id, message)


def test_a_failing_bus_cmd_is_a_setup_error_and_the_bus_comes_back(app: Starlette, url: str, tmp_path: Path) -> None:
    set_flaws(app, Flaws())
    came_back = tmp_path / "up"
    with pytest.raises(SetupError, match=r"^--bus-down-cmd 'exit 4' exited 4: the outage was not checked"):
        check(url, only=["bus"], bus_down_cmd="exit 4", bus_up_cmd=f"touch {came_back}")
    assert came_back.exists(), "--bus-up-cmd runs even when --bus-down-cmd failed"
