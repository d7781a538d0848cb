"""``useTranscriptionStatusSSE`` in real Chromium against the real stack, inside ``<React.StrictMode>``:
what only a component can break on top of the client (issue 14).

StrictMode's mount-unmount-mount, a ``sessionId`` change, an unmount (also during a reconnect delay or a
polling interval), a re-rendering parent, the end of a job. Streams are counted on the server
(``/api/v1/streams/me``: open now and opened in total for this test's user), requests at a proxy or in the
page. The plain page's whole suite also runs on this page (``[react]`` in test_status_page.py and
test_demo_page.py); test_react_client.py has the client's behaviours through the hook.

A check marked ``BOTH`` also runs against the original design's hook (clients/react/test-variants, a
test-only bundle served in place of the real one), where the test passes only if the check FAILS with the
expected reason: proof that it catches the bug it claims. ``-s`` prints each ``MEASURED`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from e2e.conftest import Api, StatusPage
from e2e.react_support import (
    BOTH,
    QUIET_S,
    REAL_BUNDLE,
    SERVER_NOTICE_S,
    OpenSampler,
    measured,
    stream_count,
    verdict,
)
from reference_app.launcher import wait_until
from simulators.fault_proxy import ThreadedProxy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture
def demo_page() -> str:
    """Every page of this file is the React one (the conftest's ``open_page`` reads this)."""
    return "react"


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
    variant: str, gate: ThreadedProxy, server: Api, react_page: Callable[..., StatusPage]
) -> None:
    """The stream path fails (503); while the client waits out its reconnect delay the tree unmounts:
    no stream request and no poll may follow (the design's ``setTimeout(connectSSE)`` fires anyway)."""

    def check() -> dict[str, Any]:
        gate.set_mode(error_status=503)
        session_id = server.new_session()
        # Without polling a refused stream is retried after a backoff delay only (with polling the client
        # would poll meanwhile: that case is the polling-interval test below).
        page = react_page(server, session_id, base_url=gate.url, reconnectAttempts=5, reconnectDelay=2000,
                          enablePollingFallback=False)
        status_path = f"/api/v1/sessions/{session_id}/status"
        # The failure was seen and handled: the real client has its answer from /status (and now waits
        # 1-2 s), the design's hook shows "error" at once (and has set its timer).
        wait_until(lambda: stream_count(gate) >= 1 and (
            any(url.endswith(status_path) for url in page.requests.finished) or page.connection() == "error"),
            5, message="the failed stream to be handled")
        page.page.evaluate("window.reactDemo.unmount()")
        seen, requested = len(gate.seen()), len(page.requests.urls)
        page.page.wait_for_timeout(QUIET_S * 1000)  # longer than the longest backoff (2 s)
        later = [r.path for r in gate.seen()[seen:]]
        assert later == [] and page.requests.urls[requested:] == [], f"requests after unmount: {later}"
        return {"behaviour": "unmount-in-reconnect-delay", "stream_requests": stream_count(gate),
                "requests_after_unmount": 0, "server": server.streams()}

    verdict(variant, check, "after unmount")


def test_unmount_during_a_polling_interval_stops_polling(
    gate: ThreadedProxy, server: Api, react_page: Callable[..., StatusPage]
) -> None:
    """Polling (the stream path fails, no attempts left): unmount between two polls, and no poll, probe
    or stream request follows."""
    gate.set_mode(error_status=503)
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
    # React may fold two ticks into one render on a busy machine: the rate of commits is what counts.
    assert storm["commits"] >= 250 and per_second >= 100, f"the storm was too weak to test: {storm}"
    streams = server.streams()
    assert streams == {"open": 1, "opened_total": 1}, f"re-renders reopened the stream: {streams}"
    assert page.es_spy()["created"] == 1
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
    ids, logged = page.event_ids(), server.logged_seqs(session_id)
    assert ids == list(range(ids[0], logged[-1] + 1)), f"gap or duplicate: {ids}"
    measured(behaviour="re-render-storm", commits=storm["commits"], per_second=round(per_second), during=streams,
             after_completed=server.streams())


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
