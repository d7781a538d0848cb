"""The judges of the operator-hook checks (``bus.down-503``, ``shutdown.sigterm``) fed hand-made observations,
the hook options' validation, and the bounded command runner."""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from pathlib import Path

import pytest

from conformance import CheckOptions, Outcome, SetupError
from conformance.client import StreamRecord
from conformance.hooks import BusOutage, Shutdown, bus_down, run_command, sigterm
from conformance.probes import Probe

pytestmark = pytest.mark.unit

OPTS = CheckOptions("http://127.0.0.1:1", dev_login="a", bus_down_cmd="true", bus_up_cmd="true", shutdown_cmd="true")
REFUSED = {"retry-after": "2"}


def p(status: int | None, body: object = None, headers: dict[str, str] | None = None, error: str | None = None,
      label: str = "x", path: str = "/api/v1/sessions/s/status") -> Probe:
    return Probe(label, "GET", path, status=status, headers=headers or {}, body=json.dumps(body) if body else "",
                 error=error)


def outage(stream: Probe | None = None, healthz: Probe | None = None, route: Probe | None = None,
           recovered: float | None = 0.4) -> BusOutage:
    return BusOutage(stream=stream or p(503, {"reason": "bus_unavailable"}, REFUSED),
                     healthz=healthz or p(503, {"status": "degraded"}),
                     route=route or p(503, {"reason": "redis_unreachable"}, REFUSED), recovered_after_s=recovered)


def test_the_bus_check_is_opt_in() -> None:
    result = bus_down(None, OPTS)
    assert result.outcome is Outcome.SKIP and result.message == "not measured: opt-in (--bus-down-cmd/--bus-up-cmd)"


def test_a_right_outage_passes_with_the_recovery_time() -> None:
    result = bus_down(outage(), OPTS)
    assert result.outcome is Outcome.PASS and result.metric == 0.4, result.message
    assert "'bus_unavailable'" in result.message


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"stream": p(200)}, "a stream opened with 200 while Redis was down"),
    ({"stream": p(503, {"reason": "bus_unavailable"})}, "503 without Retry-After"),
    ({"stream": p(503, {"detail": "down"}, REFUSED)}, "no reason in the 503 body"),
    ({"stream": p(503, {"reason": "oops"}, REFUSED)}, "reason 'oops' is not one of the contract's"),
    ({"stream": p(500)}, "answered 500, not 503"),
    ({"healthz": p(200, {"status": "ok"})}, "/healthz answered 200 while Redis was down"),
    ({"healthz": p(503, {"status": "down"})}, "without {\"status\": \"degraded\"}"),
    ({"route": p(500)}, "GET /api/v1/sessions/s/status (needs Redis) while Redis was down answered 500, not 503"),
    ({"route": p(None, error="no answer within 10 s")}, "no answer (no answer within 10 s)"),
    ({"recovered": None}, "did not recover within 30 s after --bus-up-cmd"),
])
def test_each_broken_outage_fails_naming_what_was_measured(kwargs: dict[str, object], words: str) -> None:
    result = bus_down(outage(**kwargs), OPTS)  # type: ignore[arg-type]
    assert result.outcome is Outcome.FAIL and words in result.message, result.message


def test_everything_200_after_the_down_cmd_names_both_causes() -> None:
    result = bus_down(outage(stream=p(200), healthz=p(200, {"status": "ok"}), route=p(200, {"seq": 1})), OPTS)
    assert result.outcome is Outcome.FAIL, result.message
    assert "everything answered 200 for 10 s after --bus-down-cmd: either the command took nothing down or the " \
           "target ignores the outage" in result.message


@pytest.mark.parametrize("reason", ["shutting_down", "queue_full", "deadline"])
def test_a_reason_that_is_not_an_outage_fails(reason: str) -> None:
    result = bus_down(outage(stream=p(503, {"reason": reason}, REFUSED)), OPTS)
    assert result.outcome is Outcome.FAIL and f"503 reason {reason!r} misnames the cause" in result.message
    route = bus_down(outage(route=p(503, {"reason": reason}, REFUSED)), OPTS)
    assert route.outcome is Outcome.FAIL and "misnames the cause" in route.message


def test_the_pass_says_a_live_status_was_seen_or_that_it_was_not_checked() -> None:
    assert "a snapshot and a live status of a new job" in bus_down(outage(), OPTS).message
    unchecked = outage()
    unchecked.live_checked = False
    assert "live delivery not checked: --trigger none" in bus_down(unchecked, OPTS).message


def test_an_http_date_retry_after_counts() -> None:
    stream = p(503, {"reason": "bus_unavailable"}, {"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"})
    assert bus_down(outage(stream=stream), OPTS).outcome is Outcome.PASS


GONE = p(None, error="ConnectError: [Errno 111] Connection refused")


def record(end: str, error: str | None = None) -> StreamRecord:
    r = StreamRecord("http://x/stream", {}, status=200)
    r.end, r.error = end, error  # type: ignore[assignment]
    return r


def test_the_sigterm_check_is_opt_in_and_says_when_the_command_was_not_run() -> None:
    assert sigterm(None, OPTS).message == "not measured: opt-in (--shutdown-cmd)"
    result = sigterm(Shutdown(not_run="a stream opened before --shutdown-cmd answered 503"), OPTS)
    assert result.outcome is Outcome.SKIP and "answered 503" in result.message


def test_streams_ended_cleanly_and_refused_opens_pass() -> None:
    shutdown = Shutdown(streams=[record("closed"), record("closed")], ended_after_s=[0.05, 0.1],
                        opens=[p(503, {"reason": "shutting_down"}, {"retry-after": "1"}),
                               p(None, error="ConnectError: refused")], after_grace=GONE)
    result = sigterm(shutdown, OPTS)
    assert result.outcome is Outcome.PASS and result.metric == 0.1, result.message
    assert "new opens: 503 shutting_down, refused; connection refused 6 s after SIGTERM" in result.message


@pytest.mark.parametrize(("shutdown", "words"), [
    (Shutdown(streams=[record("window")], ended_after_s=[None]), "stream still open 6 s after SIGTERM (grace 5 s)"),
    (Shutdown(streams=[record("cut", "RemoteProtocolError: incomplete chunked read")], ended_after_s=[0.1]),
     "the stream was cut (reset), not ended: clients see an error"),
    (Shutdown(streams=[record("closed")], ended_after_s=[6.5]), "ended 6.5 s after SIGTERM, past the grace"),
    (Shutdown(streams=[record("closed")], ended_after_s=[0.1], opens=[p(200)]),
     "a stream was accepted (200) during shutdown"),
    (Shutdown(streams=[record("closed")], ended_after_s=[0.1], opens=[p(500)]), "answered 500, not 503"),
    (Shutdown(streams=[record("closed")], ended_after_s=[0.1], opens=[p(503, {"reason": "shutting_down"})]),
     "503 without Retry-After"),
    (Shutdown(streams=[record("closed")], ended_after_s=[0.1], opens=[p(None, error="no answer within 10 s")]),
     "got no answer within 10 s"),
])
def test_each_broken_shutdown_fails_naming_the_cause(shutdown: Shutdown, words: str) -> None:
    result = sigterm(shutdown, OPTS)
    assert result.outcome is Outcome.FAIL and words in result.message, result.message


CLEAN = {"streams": [record("closed")], "ended_after_s": [0.1], "opens": [GONE]}


@pytest.mark.parametrize(("shutdown", "outcome", "words"), [
    (Shutdown(streams=[record("closed")], ended_after_s=[0.1], after_grace=GONE), Outcome.SKIP,
     "not measured: no new open was tried during the shutdown"),
    (Shutdown(streams=[record("closed"), record("closed")], ended_after_s=[-0.05, 0.1], opens=[GONE],
              after_grace=GONE), Outcome.SKIP, "not measured: a stream ended before --shutdown-cmd started"),
    (Shutdown(**CLEAN, after_grace=None), Outcome.SKIP, "not measured: whether the target exited within 6 s"),  # type: ignore[arg-type]
    (Shutdown(**CLEAN, after_grace=p(503, {"reason": "shutting_down"}, REFUSED)), Outcome.FAIL,  # type: ignore[arg-type]
     "still answering (503) 6 s after SIGTERM (grace 5 s) — 8."),
    (Shutdown(**CLEAN, after_grace=p(None, error="no answer within 10 s")), Outcome.FAIL,  # type: ignore[arg-type]
     "still answering (no answer within 10 s) 6 s after SIGTERM"),
    (Shutdown(streams=[record("closed")], ended_after_s=[0.1],
              opens=[p(None, error="RemoteProtocolError: Server disconnected without sending a response.")],
              after_grace=GONE), Outcome.FAIL,
     "got RemoteProtocolError: Server disconnected without sending a response.: refuse it"),
    (Shutdown(streams=[record("closed")], ended_after_s=[0.1], opens=[p(None, error="ReadError: reset")],
              after_grace=GONE), Outcome.FAIL, "got ReadError: reset"),
])
def test_unmeasured_or_unrefused_shutdowns(shutdown: Shutdown, outcome: Outcome, words: str) -> None:
    result = sigterm(shutdown, OPTS)
    assert result.outcome is outcome and words in result.message, result.message


def test_a_lifetime_that_could_end_the_streams_refuses_to_judge() -> None:
    short = CheckOptions("http://127.0.0.1:1", dev_login="a", shutdown_cmd="true", max_lifetime_s=7.0)
    result = sigterm(Shutdown(**CLEAN, after_grace=GONE), short)  # type: ignore[arg-type]
    assert result.outcome is Outcome.SKIP and "0.8 x --max-lifetime-s = 5.6 s) within --shutdown-grace-s + 1 s = 6 s" \
        in result.message, result.message
    long = CheckOptions("http://127.0.0.1:1", dev_login="a", shutdown_cmd="true", max_lifetime_s=8.0)
    assert sigterm(Shutdown(**CLEAN, after_grace=GONE), long).outcome is Outcome.PASS  # type: ignore[arg-type]


@pytest.mark.parametrize(("options", "words"), [
    ({"recover_s": math.nan}, "--recover-s must be a finite number, got nan"),
    ({"shutdown_grace_s": math.inf}, "--shutdown-grace-s must be a finite number, got inf"),
    ({"recover_s": 1e12}, "--recover-s must be within 0..600, got 1000000000000.0"),
    ({"shutdown_grace_s": 601.0}, "--shutdown-grace-s must be within 0..600"),
    ({"idle_s": math.nan}, "--idle-s must be a finite number"),
    ({"max_lifetime_s": math.nan}, "--max-lifetime-s must be a finite number"),
    ({"first_event_budget_ms": math.inf}, "--first-event-budget-ms must be a finite number"),
    ({"bus_down_cmd": "x"}, "--bus-down-cmd and --bus-up-cmd go together"),
    ({"bus_up_cmd": "x"}, "--bus-down-cmd and --bus-up-cmd go together"),
    ({"recover_s": 0.0}, "--recover-s must be > 0"),
    ({"shutdown_grace_s": -1.0}, "--shutdown-grace-s must be > 0"),
])
def test_hook_options_are_validated(options: dict[str, object], words: str) -> None:
    with pytest.raises(SetupError, match=words):
        CheckOptions("http://127.0.0.1:1", dev_login="a", **options).validate()  # type: ignore[arg-type]


def test_hooks_belong_to_the_contract_profile() -> None:
    with pytest.raises(SetupError, match="--shutdown-cmd belongs to --profile contract"):
        CheckOptions("http://127.0.0.1:1/events", shutdown_cmd="true").validate()


def test_the_command_runner_reports_failures_and_bounds_time() -> None:
    assert asyncio.run(run_command("true")) is None
    assert asyncio.run(run_command("echo boom >&2; exit 3")) == "exited 3: boom"
    assert asyncio.run(run_command("sleep 5", timeout_s=0.2)) == "still running after 0.2 s: stopped"


def test_a_background_child_holding_stderr_does_not_hold_the_hook(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    began = time.monotonic()
    assert asyncio.run(run_command(f"sleep 30 & echo $! > {pid_file}", timeout_s=10)) is None
    assert time.monotonic() - began < 5, "waited for the shell's exit, not for its child's stderr"
    os.kill(int(pid_file.read_text()), 9)


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    assert asyncio.run(run_command(f"sleep 30 & echo $! > {pid_file}; wait", timeout_s=0.5)) == \
        "still running after 0.5 s: stopped"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{child}/stat") as stat:
            if stat.read().split()[2] == "Z":
                break
        time.sleep(0.05)
    else:
        os.kill(child, 9)
        pytest.fail("the shell's background child survived the timeout")
