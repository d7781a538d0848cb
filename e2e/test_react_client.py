"""The status client's behaviours through ``useTranscriptionStatusSSE`` (issue 14), in real Chromium
against the real stack: a cut stream retried by one stream, polling after bounded attempts, a hidden tab's
stream given back; and the plain page's tests that open their page by hand, on the React page.

As in test_react_hook.py, a check marked ``BOTH`` must fail against the original design's hook.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from e2e.conftest import Api, StatusPage
from e2e.react_support import BOTH, SERVER_NOTICE_S, OpenSampler, stream_count, verdict
from e2e.test_demo_page import horizontal_overflow
from e2e.test_status_page import connection_history
from reference_app.launcher import ApiProcess, WorkerProcess, wait_until
from simulators.fault_proxy import STREAM_PATH, ThreadedProxy, run_in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture
def demo_page() -> str:
    """Every page of this file is the React one (the conftest's ``open_page`` reads this)."""
    return "react"


# ---- the client's behaviours, through the hook ---------------------------------------------------------


@pytest.fixture
def fast_retry_api(start_api: Callable[..., ApiProcess], celery_worker: WorkerProcess) -> ApiProcess:
    """An API telling browsers to retry after 1 s (the default 3 s would only slow the test down)."""
    return start_api(SSE_RETRY_MS="1000", SSE_HEARTBEAT_S="1")


@BOTH
def test_a_cut_stream_is_retried_by_one_stream(
    variant: str, fast_retry_api: ApiProcess, user: str, make_api: Callable[[str, str], Api],
    react_page: Callable[..., StatusPage],
) -> None:
    """The stream is reset mid-job at a proxy: the browser retries by itself, and the hook must not open
    a second stream beside it (the design's ``onerror`` does): at most one open on the server, sampled."""

    def check() -> dict[str, Any]:
        api = make_api(fast_retry_api.url, user)
        session_id = api.new_session()
        with run_in_thread(fast_retry_api.url) as proxy, OpenSampler(api) as sampler:
            page = react_page(api, session_id, base_url=proxy.url, reconnectAttempts=60, reconnectDelay=200)
            wait_until(lambda: api.streams()["open"] == 1, 5, message="the stream to open")
            api.start_job(session_id, profile="steady", steps=30, interval_ms=150)
            wait_until(lambda: (page.seq() or 0) >= 5, 10, message="live events")
            assert proxy.cut_all(STREAM_PATH) >= 1
            expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=20_000)
        most = max(sampler.samples)
        assert most <= 1, f"{most} streams open at once after the cut (server, {len(sampler.samples)} samples)"
        logged = api.logged_seqs(session_id)
        assert page.event_ids() == list(range(logged[0], logged[-1] + 1)), "gap or duplicate after the cut"
        return {"behaviour": "reconnect-after-cut", "max_open_sampled": most, "samples": len(sampler.samples),
                "after_completed": api.streams()}

    verdict(variant, check, "streams open at once|gap or duplicate")


@BOTH
def test_polling_fallback_after_bounded_attempts(
    variant: str, gate: ThreadedProxy, server: Api, react_page: Callable[..., StatusPage]
) -> None:
    """The stream path answers 503: 1 + ``reconnectAttempts`` stream requests, then polling that reaches
    ``completed`` (the design's hook never counts its attempts down and never polls)."""

    def check() -> dict[str, Any]:
        gate.set_mode(error_status=503)
        session_id = server.new_session()
        page = react_page(server, session_id, base_url=gate.url, reconnectAttempts=2, reconnectDelay=100,
                          pollIntervalMs=100, sseProbeIntervalMs=60_000)
        wait_until(lambda: stream_count(gate) >= 3, 5, message="three stream attempts")
        page.page.wait_for_timeout(1_500)  # 15 reconnect delays: an unbounded loop shows up here
        attempts = stream_count(gate)
        assert attempts == 3, f"{attempts} stream attempts for reconnectAttempts=2"
        page.expect_connection("polling")
        server.start_job(session_id, profile="steady", steps=10, interval_ms=150)
        expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
        assert stream_count(gate) == 3 and server.streams() == {"open": 0, "opened_total": 0}
        return {"behaviour": "polling-fallback", "stream_requests": attempts, "server": server.streams()}

    verdict(variant, check, "stream attempts for reconnectAttempts=2")


@BOTH
def test_a_hidden_tab_gives_its_stream_back(
    variant: str, server: Api, react_page: Callable[..., StatusPage]
) -> None:
    """Hidden longer than ``hiddenGraceMs``: the server's open count drops to 0; visible again: one new
    stream and the job ends ``completed`` (the design's hook keeps streaming in a hidden tab)."""

    def check() -> dict[str, Any]:
        session_id = server.new_session()
        page = react_page(server, session_id, hiddenGraceMs=300)
        page.expect_connection("connected")
        server.start_job(session_id, profile="steady", steps=40, interval_ms=150)
        wait_until(lambda: (page.seq() or 0) >= 3, 10, message="live events")
        page.set_hidden(True)
        try:
            wait_until(lambda: server.streams()["open"] == 0, 0.3 + SERVER_NOTICE_S, message="hidden")
        except TimeoutError as exc:
            raise AssertionError(f"hidden tab kept its stream: {server.streams()}") from exc
        hidden = server.streams()
        page.set_hidden(False)
        page.expect_connection("connected")
        expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
        wait_until(lambda: server.streams()["open"] == 0, SERVER_NOTICE_S, message="no stream after completed")
        after = server.streams()
        assert hidden == {"open": 0, "opened_total": 1} and after["opened_total"] == 2, (hidden, after)
        return {"behaviour": "hidden-tab", "while_hidden": hidden, "after_completed": after}

    verdict(variant, check, "hidden tab kept its stream")


# ---- the plain page's tests that open their page by hand, on the React page ------------------------------


def test_the_bar_moves_live_to_completed_on_one_stream(server: Api, react_page: Callable[..., StatusPage]) -> None:
    """The happy path of test_status_page (which starts from the index page, so it opens /sessions/):
    the bar moves 0 -> 100 live, ``completed``, the indicator ends ``finished``, one stream opened."""
    session_id = server.new_session()
    page = react_page(server, session_id)
    page.expect_connection("connected")
    server.start_job(session_id, profile="steady", steps=15, interval_ms=200)
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
    page.expect_connection("finished")
    expect(page.page.get_by_test_id("progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.page.get_by_test_id("message")).to_have_text("Transcription completed")
    shown: list[float] = page.page.evaluate(
        "window.__renders.filter(r => r.progress !== null).map(r => r.progress)")
    assert shown == sorted(shown) and len(set(shown)) >= 10 and shown[-1] == 100, shown
    assert connection_history(page)[-2:] == ["connected", "finished"]
    assert server.streams() == {"open": 0, "opened_total": 1}


@pytest.mark.parametrize("query", ["reconnectAttempts=" + "9" * 4000, "x" * 4000 + "=1"])
def test_a_long_bad_query_is_echoed_shortened(query: str, stack: ApiProcess, context: BrowserContext) -> None:
    """As on the plain page: a bad 4,000-character option is named, cut, and the page keeps its width."""
    page = context.new_page()
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(f"{stack.url}/react-demo/sessions/{uuid.uuid4()}?{query}")
    expect(page.get_by_test_id("connection-status")).to_have_text("error")
    expect(page.get_by_test_id("error")).to_have_attribute("data-reason", "bad-options")
    error = page.get_by_test_id("error").inner_text()
    assert "(4000 characters)" in error or "(4001 characters)" in error, error
    assert len(error) < 800
    assert horizontal_overflow(page) == {"page": 0, "element": 0}


@pytest.mark.parametrize("path", ["/sessions/", "/react-demo/sessions/"])
def test_an_option_the_client_refuses_is_a_bad_address_on_both_pages(
    path: str, stack: ApiProcess, context: BrowserContext
) -> None:
    """A query that parses but that the client refuses (``pollIntervalMs`` below 50) is the same
    ``bad-options`` error on both pages (one rule, demo-view.js), and no request reaches the API."""
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{stack.url}{path}{uuid.uuid4()}?pollIntervalMs=10")
    error = page.get_by_test_id("error")
    expect(error).to_have_attribute("data-reason", "bad-options")
    expect(error).to_contain_text("pollIntervalMs must be at least 50")
    expect(page.get_by_test_id("reconnect")).to_be_disabled()
    assert not [url for url in requests if "/api/" in url], requests
