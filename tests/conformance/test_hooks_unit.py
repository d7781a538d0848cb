"""The judges of the operator-hook checks (``bus.down-503``, ``shutdown.sigterm``) fed hand-made observations,
the hook options' validation, and the bounded command runner."""

from __future__ import annotations

import asyncio
import json

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


def test_an_http_date_retry_after_counts() -> None:
    stream = p(503, {"reason": "bus_unavailable"}, {"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"})
    assert bus_down(outage(stream=stream), OPTS).outcome is Outcome.PASS


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
                               p(None, error="ConnectError: refused")])
    result = sigterm(shutdown, OPTS)
    assert result.outcome is Outcome.PASS and result.metric == 0.1, result.message
    assert "new opens: 503 shutting_down, refused" in result.message


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


@pytest.mark.parametrize(("options", "words"), [
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
