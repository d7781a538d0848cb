"""``useTranscriptionStatusSSE`` in real Chromium against the real stack, inside ``<React.StrictMode>``.

What React can break on top of the client (issue 14): StrictMode's mount-unmount-mount, a ``sessionId``
change, an unmount during a reconnect delay or a polling interval, a re-rendering parent. Streams are
counted on the server (``/api/v1/streams/me``: open now and opened in total for this test's user) and
requests at a proxy or in the page. The plain page's whole suite also runs on this page
(e2e/test_status_page.py, ``[react]``); this file adds what only a component has.

Each behaviour is one ``check_*`` function. It runs against the real hook (``variant="hook"``) and, where
the original design's hook (``clients/react/test-variants``, a test-only bundle served in place of the
real one) has the bug, against that too, where the test passes only if the check FAILS with the expected
reason: proof that the check catches the bug it claims. Every ``MEASURED`` line is printed (``-s``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Route, expect

from e2e.conftest import Api, StatusPage
from e2e.gate import StreamGate
from e2e.test_demo_page import horizontal_overflow
from e2e.test_status_page import connection_history
from reference_app.testing import ApiProcess, WorkerProcess, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parent.parent
REAL_BUNDLE = ROOT / "reference_app" / "static" / "react" / "react-demo.js"
BROKEN_BUNDLE = ROOT / "clients" / "react" / "dist-test" / "original-design-demo.js"
BOTH = pytest.mark.parametrize("variant", ["hook", "original-design"])
#: A TCP close reaching the server's stream registry: one event-loop turn plus slack.
SERVER_NOTICE_S = 2.0
#: Absence of requests cannot be waited for: each such window is longer than every timer it covers.
QUIET_S = 2.5
Check = Callable[[], dict[str, Any]]


@pytest.fixture
def demo_page() -> str:
    """Every page of this file is the React one (the conftest's ``open_page`` reads this)."""
    return "react"


@pytest.fixture
def variant() -> str:
    return "hook"


@pytest.fixture
def react_page(
    variant: str, context: BrowserContext, open_page: Callable[..., StatusPage]
) -> Callable[..., StatusPage]:
    """``open_page`` on /react-demo; for the original design's hook, its test bundle is served instead."""
    assert REAL_BUNDLE.is_file(), f"{REAL_BUNDLE} is missing: run `make react`"
    if variant == "original-design":
        assert BROKEN_BUNDLE.is_file(), f"{BROKEN_BUNDLE} is missing: run `make react`"

        def serve_broken(route: Route) -> None:
            route.fulfill(path=str(BROKEN_BUNDLE), content_type="text/javascript; charset=utf-8")

        context.route("**/static/react/react-demo.js", serve_broken)
    return open_page


@pytest.fixture
def gate(stack: ApiProcess) -> Iterator[StreamGate]:
    with StreamGate(stack.url) as proxy:
        yield proxy


def measured(**figures: Any) -> None:
    """What the report quotes: the server's stream counts (and the like) a test measured."""
    print(f"\nMEASURED hook: {json.dumps(figures)}")


def verdict(variant: str, check: Check, bug: str) -> None:
    """The real hook must pass ``check``; the original design's must fail it with a message matching ``bug``."""
    if variant == "hook":
        measured(**check())
        return
    with pytest.raises((AssertionError, TimeoutError), match=bug) as caught:
        check()
    print(f"\nMEASURED original-design (caught): {str(caught.value).splitlines()[0]}")


class OpenSampler:
    """Samples the server's open-stream count for the user throughout a block (its own HTTP pool)."""

    def __init__(self, server: Api) -> None:
        self.server = server
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        own = Api(self.server.base_url, self.server.redis_url, self.server.token)
        try:
            while not self._stop.is_set():
                self.samples.append(own.streams()["open"])
                self._stop.wait(0.01)
        finally:
            own.close()

    def __enter__(self) -> OpenSampler:
        self._thread.start()
        wait_until(lambda: len(self.samples) >= 3, 5, message="the sampler to run")
        return self

    def more(self, count: int = 20) -> None:
        """Keep sampling a while longer (a late overlap would show up here)."""
        target = len(self.samples) + count
        wait_until(lambda: len(self.samples) >= target, 5, message=f"{count} more samples")

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def stream_count(gate: StreamGate) -> int:
    return len(gate.stream_requests())


# ---- StrictMode -------------------------------------------------------------------------------------


@BOTH
def test_strict_mode_opens_exactly_one_stream(variant: str, server: Api, react_page: Callable[..., StatusPage]) -> None:
    """StrictMode mounts, unmounts and remounts every effect: the server must still see one stream opened
    in total, not a throw-away one plus the real one (the design's hook opens two)."""

    def check() -> dict[str, Any]:
        session_id = server.new_session()
        server.start_job(session_id, profile="steady", steps=20, interval_ms=150)
        page = react_page(server, session_id)
        page.expect_connection("connected")
        wait_until(lambda: (page.seq() or 0) >= 3, 10, message="live events")
        effects = page.page.evaluate("({...window.reactDemo.mountEffects})")
        assert effects == {"setups": 2, "cleanups": 1}, f"StrictMode did not double-invoke effects: {effects}"
        streams = server.streams()
        spy = page.es_spy()
        assert streams == {"open": 1, "opened_total": 1} and spy["created"] == 1, \
            f"under StrictMode the server saw {streams}, the page created {spy['created']} EventSources"
        expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
        wait_until(lambda: server.streams()["open"] == 0, SERVER_NOTICE_S, message="no stream after completed")
        return {"behaviour": "strict-mode", "while_running": streams, "es_created": spy["created"],
                "after_completed": server.streams()}

    verdict(variant, check, "under StrictMode")


# ---- sessionId changes --------------------------------------------------------------------------------


def test_changing_session_id_closes_the_old_stream_before_the_next_opens(
    server: Api, react_page: Callable[..., StatusPage]
) -> None:
    """A client-side route change to another session: the old stream is closed before the new one is
    created (page), never two open at once (server, sampled), and nothing of the old session is shown."""
    first, second = server.new_session(), server.new_session()
    for session_id in (first, second):
        server.start_job(session_id, profile="steady", steps=40, interval_ms=150)
    page = react_page(server, first)
    page.expect_connection("connected")
    wait_until(lambda: (page.seq() or 0) >= 2, 10, message="live events of the first session")

    with OpenSampler(server) as sampler:
        page.page.evaluate("(id) => window.reactDemo.setSessionId(id)", second)
        expect(page.page.get_by_test_id("session-id")).to_have_text(second)
        page.expect_connection("connected")
        wait_until(lambda: server.streams() == {"open": 1, "opened_total": 2}, SERVER_NOTICE_S,
                   message="one stream, the second session's")
        sampler.more()
    spy = page.es_spy()
    assert max(sampler.samples) <= 1, f"the server saw {max(sampler.samples)} streams open at once"
    assert spy["created"] == 2 and spy["maxAlive"] == 1, spy
    assert first in spy["urls"][0] and second in spy["urls"][1], spy["urls"]
    owners: list[str] = page.page.evaluate("window.__sseEvents.map(e => e.data.session_id)")
    switched = owners.index(second)
    assert set(owners[switched:]) == {second}, "an event of the old session arrived after the switch"
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
    wait_until(lambda: server.streams()["open"] == 0, SERVER_NOTICE_S, message="no stream after completed")
    measured(behaviour="session-id-change", max_open_sampled=max(sampler.samples), samples=len(sampler.samples),
             after_switch={"open": 1, "opened_total": 2}, es_max_alive=spy["maxAlive"], after=server.streams())


# ---- unmount --------------------------------------------------------------------------------------------


def test_unmount_closes_the_stream_and_nothing_follows(server: Api, react_page: Callable[..., StatusPage]) -> None:
    """Unmounting the tree mid-job closes the stream on the server; no request follows."""
    session_id = server.new_session()
    server.start_job(session_id, profile="steady", steps=40, interval_ms=150)
    page = react_page(server, session_id, reconnectDelay=100, pollIntervalMs=100, sseProbeIntervalMs=200)
    page.expect_connection("connected")
    before = server.streams()
    page.page.evaluate("window.reactDemo.unmount()")
    wait_until(lambda: server.streams()["open"] == 0, SERVER_NOTICE_S, message="the stream to close on unmount")
    requested = len(page.requests.urls)
    page.page.wait_for_timeout(QUIET_S * 1000)
    assert page.requests.urls[requested:] == [], "a request after unmount"
    after = server.streams()
    assert before == {"open": 1, "opened_total": 1} and after == {"open": 0, "opened_total": 1}, (before, after)
    measured(behaviour="unmount", before=before, after=after, requests_after_unmount=0)


@BOTH
def test_unmount_during_a_reconnect_delay_revives_nothing(
    variant: str, gate: StreamGate, server: Api, react_page: Callable[..., StatusPage]
) -> None:
    """The stream path fails (503); while the client waits out its reconnect delay the tree unmounts:
    no stream request and no poll may follow (the design's ``setTimeout(connectSSE)`` fires anyway)."""

    def check() -> dict[str, Any]:
        gate.fail_streams = True
        session_id = server.new_session()
        # Without polling a refused stream is retried after a backoff delay only (with polling the client
        # would poll meanwhile: that case is the polling-interval test below).
        page = react_page(server, session_id, base_url=gate.url, reconnectAttempts=5, reconnectDelay=2000,
                          enablePollingFallback=False)
        status_path = f"/api/v1/sessions/{session_id}/status"
        # The failure was seen and handled: the real client asked /status why (then waits 1-2 s), the
        # design's hook shows "error" at once (and has set its timer).
        wait_until(lambda: stream_count(gate) >= 1 and (
            any(r.path == status_path for r in gate.seen()) or page.connection() == "error"), 5,
            message="the failed stream to be handled")
        page.page.evaluate("window.reactDemo.unmount()")
        seen, requested = len(gate.seen()), len(page.requests.urls)
        page.page.wait_for_timeout(QUIET_S * 1000)  # longer than the longest backoff (2 s)
        later = [r.path for r in gate.seen()[seen:]]
        assert later == [] and page.requests.urls[requested:] == [], f"requests after unmount: {later}"
        return {"behaviour": "unmount-in-reconnect-delay", "stream_requests": stream_count(gate),
                "requests_after_unmount": 0, "server": server.streams()}

    verdict(variant, check, "after unmount")


def test_unmount_during_a_polling_interval_stops_polling(
    gate: StreamGate, server: Api, react_page: Callable[..., StatusPage]
) -> None:
    """Polling (the stream path fails, no attempts left): unmount between two polls, and no poll, probe
    or stream request follows."""
    gate.fail_streams = True
    session_id = server.new_session()
    server.start_job(session_id, profile="steady", steps=40, interval_ms=150)
    page = react_page(server, session_id, base_url=gate.url, reconnectAttempts=0, pollIntervalMs=1000,
                      sseProbeIntervalMs=1500)
    page.expect_connection("polling")
    status_path = f"/api/v1/sessions/{session_id}/status"
    wait_until(lambda: sum(r.path == status_path for r in gate.seen()) >= 2, 5, message="a poll")
    page.page.evaluate("window.reactDemo.unmount()")
    seen = len(gate.seen())
    page.page.wait_for_timeout(QUIET_S * 1000)  # > 2 poll periods and > the probe period
    assert [r.path for r in gate.seen()[seen:]] == [], "a request after unmount while polling"
    assert stream_count(gate) == 1 and server.streams() == {"open": 0, "opened_total": 0}
    measured(behaviour="unmount-in-poll-interval", stream_requests=1, requests_after_unmount=0,
             polls=sum(r.path == status_path for r in gate.seen()), server=server.streams())


# ---- re-renders -------------------------------------------------------------------------------------


def test_a_re_render_storm_reopens_nothing(server: Api, react_page: Callable[..., StatusPage]) -> None:
    """The parent re-renders 300 times at about 200 per second, each time with a new options object and a
    new ``onEvent`` callback: the same one stream carries on, no event lost or repeated."""
    session_id = server.new_session()
    server.start_job(session_id, profile="steady", steps=40, interval_ms=100)
    page = react_page(server, session_id)
    page.expect_connection("connected")
    storm: dict[str, float] = page.page.evaluate("""async () => {
        const t0 = performance.now();
        const commits = await window.reactDemo.rerenderStorm(300, 5);
        return { commits, ms: performance.now() - t0 };
    }""")
    per_second = storm["commits"] / (storm["ms"] / 1000)
    assert storm["commits"] >= 300 and per_second >= 100, f"the storm was too weak to test: {storm}"
    streams = server.streams()
    assert streams == {"open": 1, "opened_total": 1}, f"re-renders reopened the stream: {streams}"
    assert page.es_spy()["created"] == 1
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
    ids, logged = page.event_ids(), server.logged_seqs(session_id)
    assert ids == list(range(ids[0], logged[-1] + 1)), f"gap or duplicate: {ids}"
    measured(behaviour="re-render-storm", commits=storm["commits"], per_second=round(per_second), during=streams,
             after_completed=server.streams())


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
        with StreamGate(fast_retry_api.url) as proxy, OpenSampler(api) as sampler:
            page = react_page(api, session_id, base_url=proxy.url, reconnectAttempts=60, reconnectDelay=200)
            wait_until(lambda: api.streams()["open"] == 1, 5, message="the stream to open")
            api.start_job(session_id, profile="steady", steps=30, interval_ms=150)
            wait_until(lambda: (page.seq() or 0) >= 5, 10, message="live events")
            assert proxy.cut_streams() >= 1
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
    variant: str, gate: StreamGate, server: Api, react_page: Callable[..., StatusPage]
) -> None:
    """The stream path answers 503: 1 + ``reconnectAttempts`` stream requests, then polling that reaches
    ``completed`` (the design's hook never counts its attempts down and never polls)."""

    def check() -> dict[str, Any]:
        gate.fail_streams = True
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


def test_a_completed_job_leaves_no_stream_and_the_final_state_rendered(
    server: Api, react_page: Callable[..., StatusPage]
) -> None:
    """After ``completed`` the hook's final session state is rendered, the server holds no stream, and the
    page stays quiet."""
    session_id = server.new_session()
    page = react_page(server, session_id, reconnectDelay=100, pollIntervalMs=100, sseProbeIntervalMs=200)
    page.expect_connection("connected")
    server.start_job(session_id, profile="steady", steps=8, interval_ms=100)
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
    page.expect_connection("finished")
    progress = page.page.get_by_test_id("progress")
    expect(progress).to_have_attribute("aria-valuenow", "100")
    expect(progress).to_have_attribute("data-finished", "true")
    wait_until(lambda: server.streams()["open"] == 0, SERVER_NOTICE_S, message="no stream after completed")
    requested = len(page.requests.urls)
    page.page.wait_for_timeout(QUIET_S * 1000)
    assert page.requests.urls[requested:] == []
    streams = server.streams()
    assert streams == {"open": 0, "opened_total": 1}, streams
    assert page.seq() == server.snapshot(session_id)["seq"]
    measured(behaviour="completed", after_completed=streams, requests_after=0)


def test_the_page_runs_the_served_client_not_a_copy(server: Api, react_page: Callable[..., StatusPage]) -> None:
    """All connection logic stays in sse-status-client.js: the bundle imports /static/sse-status-client.js
    (the module the plain page runs) and carries no copy of it."""
    bundle = REAL_BUNDLE.read_text()
    assert 'from "/static/sse-status-client.js"' in bundle
    assert "class StatusClient" not in bundle and "#openStream" not in bundle
    page = react_page(server, server.new_session())
    assert page.requests.count("/static/sse-status-client.js") == 1
    page.expect_connection("connected")


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


def test_a_malformed_session_id_says_no_such_session(stack: ApiProcess, context: BrowserContext) -> None:
    """As on the plain page: a 404 page saying "no such session" with a way on; no request to the API."""
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(f"{stack.url}/react-demo/sessions/not-a-uuid")
    assert response is not None and response.status == 404
    error = page.get_by_test_id("error")
    expect(error).to_have_text('No such session: "not-a-uuid" is not a session id. Check the link, or start '
                               "a new transcription.")
    expect(error).to_have_attribute("data-reason", "not-found")
    expect(page.get_by_test_id("connection-status")).to_have_text("error")
    expect(page.get_by_test_id("error-action")).to_have_text("Start a new transcription")
    expect(page.get_by_test_id("disconnect")).to_be_disabled()
    expect(page.get_by_test_id("reconnect")).to_be_disabled()
    assert not [url for url in requests if "/api/" in url], requests


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
