"""The checker against the real stack (API process, Celery worker, Redis), directly and through the
fault proxy: pass-through passes; every breaking mode fails the check that names the problem."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator

import pytest

from conformance import CheckOptions, Outcome, Report, run_sync
from conformance.slow_reader import HELD_MARGIN_B
from reference_app.launcher import ApiProcess, WorkerProcess
from simulators.fault_proxy import ProxyMode, ThreadedProxy, run_in_thread
from tests.conformance.helpers import assert_all_pass, pop_opt_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: the `api` fixture heartbeats every 1 s; a 2.5 s window sees two beats
IDLE_S = 2.5
FAST = {"steps": 6, "interval_ms": 200, "idle_limit_s": 5.0}


def user() -> str:
    """A user of its own per run: the per-user cap must not count other tests' streams."""
    return f"conf-{secrets.token_hex(4)}"


def check(url: str, **options: object) -> Report:
    return run_sync(CheckOptions(url, dev_login=user(), **{"idle_s": IDLE_S, **FAST, **options}))  # type: ignore[arg-type]


def outcomes(report: Report) -> dict[str, str]:
    return {r.id: r.outcome.value for r in report.results}


def failed(report: Report) -> dict[str, str]:
    return {r.id: r.message for r in report.results if r.outcome is Outcome.FAIL}


@pytest.fixture
def proxy(api: ApiProcess) -> Iterator[ThreadedProxy]:
    with run_in_thread(api.url) as p:
        yield p


def test_reference_app_passes_every_check(api: ApiProcess) -> None:
    report = check(api.url)
    result = outcomes(report)
    assert report.ok, report.summary()
    assert result.pop("headers.connection-h2") == "skip" and result.pop("cors.credentials") == "skip"
    pop_opt_in(result)  # each has its own test
    assert_all_pass(result)
    assert report.get("heartbeat.interval").metric == pytest.approx(1.0, abs=0.3)  # type: ignore[union-attr]
    assert "after 20 open streams" in report.get("cap.per-user").message  # type: ignore[union-attr]
    assert report.http_version == "HTTP/1.1"


def test_reference_app_passes_through_the_proxy_in_pass_through_mode(api: ApiProcess, proxy: ThreadedProxy) -> None:
    report = check(proxy.url, expect_cap=0)
    assert report.ok, report.summary()
    assert outcomes(report)["stream.not-buffered"] == "pass"
    assert proxy.stats.requests > 20, "the checker really went through the proxy"


@pytest.mark.parametrize(
    ("mode", "only", "expected"),
    [
        pytest.param(ProxyMode(buffer_until_close=True), ["stream", "idle", "timing"],
                     {"stream.not-buffered": "in one burst at the end",
                      "idle.survival": "nothing arrived, not even the current state",
                      "timing.first-event": "no event at all within"}, id="buffer-until-close"),
        pytest.param(ProxyMode(buffer_bytes=1500), ["stream.not-buffered"],
                     {"stream.not-buffered": "the stream is buffered"}, id="buffer-bytes"),
        pytest.param(ProxyMode(gzip=True), ["headers", "stream"],
                     {"headers.content-encoding": "compressed (Content-Encoding: gzip)",
                      "stream.not-buffered": "compression holds events"}, id="gzip"),
        pytest.param(ProxyMode(idle_timeout_s=0.6), ["idle", "stream.open"],
                     {"idle.survival": "an intermediary's idle timeout"}, id="idle-timeout"),
        pytest.param(ProxyMode(kill_after_s=1.2), ["idle"],
                     {"idle.survival": "cut after 1.2 s"}, id="kill-after"),
        pytest.param(ProxyMode(error_status=503), ["stream.open", "headers.content-type", "idle"],
                     {"stream.open": "answered 503", "idle.survival": "answered 503"}, id="status-503"),
        pytest.param(ProxyMode(error_status=502), ["stream.open"], {"stream.open": "answered 502"}, id="status-502"),
    ],
)
def test_breaking_proxy_mode_fails_the_matching_check(
    api: ApiProcess, proxy: ThreadedProxy, mode: ProxyMode, only: list[str], expected: dict[str, str]
) -> None:
    proxy.set_mode(mode)
    report = check(proxy.url, only=only)
    got = failed(report)
    assert set(got) == set(expected), report.summary()
    for check_id, fragment in expected.items():
        assert fragment in got[check_id], got[check_id]


def test_latency_shows_in_the_comparison(api: ApiProcess, proxy: ThreadedProxy) -> None:
    """--compare's purpose: the same checks on two URLs, with what the intermediary adds."""
    from conformance.report import to_json

    proxy.set_mode(latency_ms=300)
    only = ["timing.headers", "stream.not-buffered"]
    through, direct = check(proxy.url, only=only), check(api.url, only=only)
    assert through.ok and direct.ok
    headers_through = through.get("timing.headers").metric  # type: ignore[union-attr]
    headers_direct = direct.get("timing.headers").metric  # type: ignore[union-attr]
    assert headers_through is not None and headers_direct is not None and headers_through >= 300
    data = json.loads(to_json([through, direct]))
    delta = {d["id"]: d["delta"] for d in data["differences"]}
    assert delta["timing.headers"] == pytest.approx(headers_through - headers_direct, abs=0.01)
    assert through.get("stream.not-buffered").outcome is Outcome.PASS, "a constant delay is not buffering"  # type: ignore[union-attr]


def test_cors_with_credentials(start_api: Callable[..., ApiProcess]) -> None:
    server = start_api(CORS_ORIGINS='["https://app.example"]')
    good = check(server.url, only=["cors"], origin="https://app.example")
    assert outcomes(good) == {"cors.credentials": "pass"}, good.results[0].message
    bad = check(server.url, only=["cors"], origin="https://evil.example")
    assert "Access-Control-Allow-Origin is None, must be 'https://evil.example'" in failed(bad)["cors.credentials"]


def test_the_stalled_event(start_api: Callable[..., ApiProcess]) -> None:
    """Contract point 10 on the real stack: a job silent for 2 s with STATUS_STALL_AFTER_S=1."""
    server = start_api(STATUS_STALL_AFTER_S="1", SSE_HEARTBEAT_S="1")
    report = check(server.url, only=["stream.stalled"], stall_after_s=1.0)
    assert outcomes(report) == {"stream.stalled": "pass"}, report.results[0].message


def test_a_slow_reader_is_cut(start_api: Callable[..., ApiProcess], celery_worker: WorkerProcess) -> None:
    """Contract point 7 on the real stack: a stream that reads nothing during a 5,000-status job is cut
    after SSE_SEND_TIMEOUT_S=1 (the job's ~1 MB does not fit the small-MSS connection's buffers)."""
    server = start_api(SSE_SEND_TIMEOUT_S="1", SSE_HEARTBEAT_S="1")
    report = check(server.url, only=["stream.slow-reader"], send_timeout_s=1.0)
    result = report.results[0]
    assert outcomes(report) == {"stream.slow-reader": "pass"}, result.message
    assert "no final status" in result.message
    # the kernel's TCP_USER_TIMEOUT abort: the drain ends (a reset) after no more than our receive buffer held
    evidence = result.evidence or {}
    assert evidence["drain_end"] in ("reset", "eof"), evidence
    assert evidence["drained_bytes"] <= evidence["rcvbuf_bytes"] + HELD_MARGIN_B, evidence


def test_the_lifetime_bound(start_api: Callable[..., ApiProcess]) -> None:
    """Contract point 5 on the real stack: SSE_CONNECTION_TIMEOUT=3 ends an idle stream cleanly within
    2.4-3 s (80-100 %)."""
    server = start_api(SSE_CONNECTION_TIMEOUT="3", SSE_HEARTBEAT_S="1")
    report = check(server.url, only=["stream.lifetime"], max_lifetime_s=3.0)
    assert outcomes(report) == {"stream.lifetime": "pass"}, report.results[0].message
    assert 2.3 <= report.results[0].metric <= 3.5, report.results[0].message  # type: ignore[operator]
