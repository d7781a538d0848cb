"""The browser client in real Chromium against the real stack (uvicorn, Redis, Celery worker).

Each test pins one behaviour of ``sse-status-client.js`` that users feel when it breaks; the numbers in
the docstrings are the items of issue 3. Timings are shortened through the page's query parameters and
the job parameters; every wait is bounded.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from e2e.conftest import DEFAULT_TIMEOUT_MS, Api, StatusPage
from reference_app.launcher import ApiProcess, WorkerProcess, wait_until
from simulators.fault_proxy import STREAM_PATH, ThreadedProxy, run_in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

#: Slack on top of a client-side timing for "the server noticed" (a TCP close and one event-loop turn).
SERVER_NOTICE_S = 1.0


def connection_history(page: StatusPage) -> list[str]:
    """The indicator's states as rendered, consecutive repeats folded."""
    states: list[str] = page.page.evaluate("window.__renders.map(r => r.connectionStatus)")
    folded: list[str] = []
    for state in states:
        if not folded or folded[-1] != state:
            folded.append(state)
    return folded


def is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(x == y for y in it) for x in needle)


def assert_contiguous(ids: list[int], first: int, last: int) -> None:
    assert len(ids) == len(set(ids)), f"duplicate event ids: {ids}"
    assert ids == list(range(first, last + 1)), f"gap or reorder in event ids: {ids}"


@pytest.fixture
def proxy(stack: ApiProcess) -> Iterator[ThreadedProxy]:
    """The fault proxy in front of the stack: it can answer the stream path 503 and logs every request."""
    with run_in_thread(stack.url) as proxy:
        yield proxy


@pytest.fixture
def fast_retry_api(start_api: Callable[..., ApiProcess], celery_worker: WorkerProcess) -> ApiProcess:
    """An API of this test's own (it may be restarted) telling browsers to retry after 250 ms."""
    return start_api(SSE_RETRY_MS="250", SSE_HEARTBEAT_S="1")


# ---- 1. happy path ---------------------------------------------------------------------------------


def test_happy_path_through_the_index_page(
    stack: ApiProcess, user: str, server: Api, context: BrowserContext
) -> None:
    """1: sign in, start a job from the index page; the bar moves 0 -> 100 live on the session page,
    status ``completed``, the indicator ends ``finished``, and exactly one stream was opened."""
    page = context.new_page()
    page.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page.goto(f"{stack.url}/")
    expect(page.get_by_test_id("signed-in-as")).to_have_text("Not signed in.")
    page.get_by_test_id("username").fill(user)
    page.get_by_test_id("login").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(f"Signed in as {user}.")
    page.get_by_test_id("profile").select_option("steady")
    page.get_by_test_id("steps").fill("15")
    page.get_by_test_id("interval").fill("200")
    page.get_by_test_id("start").click()
    page.wait_for_url(f"{stack.url}/sessions/*")
    status_page = StatusPage(page)

    expect(page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
    expect(page.get_by_test_id("connection-status")).to_have_text("finished")
    expect(page.get_by_test_id("progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_test_id("progress")).to_have_attribute("role", "progressbar")
    expect(page.get_by_test_id("message")).to_have_text("Transcription completed")

    shown: list[float] = page.evaluate(
        "window.__renders.filter(r => r.progress !== null).map(r => r.progress)")
    distinct = sorted(set(shown))
    assert shown == sorted(shown), f"progress went backwards: {shown}"
    assert distinct[0] < 30 and distinct[-1] == 100, shown
    assert len(distinct) >= 10, f"the bar jumped instead of moving live: {shown}"
    assert connection_history(status_page)[-2:] == ["connected", "finished"]
    assert server.streams() == {"open": 0, "opened_total": 1}


def test_index_page_shows_the_api_reason_when_not_signed_in(stack: ApiProcess, context: BrowserContext) -> None:
    """Starting a job without signing in says so in words (issue 11.8: never the API's JSON body)."""
    page = context.new_page()
    page.goto(f"{stack.url}/")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("index-error")).to_have_text("Sign in first (step 1), then start the transcription.")
    assert page.url == f"{stack.url}/"


# ---- 2. reconnect after the stream is cut -------------------------------------------------------------


@pytest.mark.parametrize("cut", ["api-restart", "proxy-reset"])
def test_reconnect_after_a_cut_misses_nothing(
    cut: str, fast_retry_api: ApiProcess, user: str, make_api: Callable[[str, str], Api],
    open_page: Callable[..., StatusPage],
) -> None:
    """2: the stream is cut mid-job, by restarting the API process (a clean end of the body, then
    connection refused while it is down) or by a TCP reset at a proxy. The page shows ``reconnecting``
    then ``connected``, ends ``completed``, and read every event id of the server's log exactly once."""
    api = make_api(fast_retry_api.url, user)
    session_id = api.new_session()
    with run_in_thread(fast_retry_api.url) as proxy:
        base = proxy.url if cut == "proxy-reset" else fast_retry_api.url
        page = open_page(api, session_id, base_url=base, reconnectAttempts=60, reconnectDelay=200)
        page.expect_connection("connected")
        api.start_job(session_id, profile="steady", steps=30, interval_ms=150)
        wait_until(lambda: (page.seq() or 0) >= 5, 10, message="a few live events")

        if cut == "api-restart":
            fast_retry_api.restart()
        else:
            assert proxy.cut_all(STREAM_PATH) == 1

        expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=20_000)
        page.expect_connection("finished")

    history = connection_history(page)
    assert is_subsequence(["connected", "reconnecting", "connected", "finished"], history), history
    logged = api.logged_seqs(session_id)
    assert_contiguous(page.event_ids(), logged[0], logged[-1])
    assert page.es_spy()["maxAlive"] == 1


# ---- 3. polling fallback ---------------------------------------------------------------------------------


def test_polling_fallback_when_the_stream_path_fails(
    proxy: ThreadedProxy, server: Api, open_page: Callable[..., StatusPage]
) -> None:
    """3: the stream path answers 503 (a proxy with an unhealthy origin). The page polls at once (issue
    11.8) while it retries the stream exactly N more times on its backoff, then only every
    ``sseProbeIntervalMs``; it still reaches ``completed`` and polls conditionally (ETag -> 304)."""
    proxy.set_mode(error_status=503)
    session_id = server.new_session()
    page = open_page(server, session_id, base_url=proxy.url, reconnectAttempts=2, reconnectDelay=100,
                     pollIntervalMs=100, sseProbeIntervalMs=60_000)
    page.expect_connection("polling")
    # the first try + reconnectAttempts (backoff 50-100 ms, then 100-200 ms), then no more
    wait_until(lambda: len(proxy.seen(STREAM_PATH)) >= 3, 5, message="the stream's retries while polling")

    server.start_job(session_id, profile="steady", steps=10, interval_ms=250)
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
    page.expect_connection("finished")
    assert page.progress() == 100

    polls = [r for r in proxy.seen() if r.path.endswith("/status") and r.method == "GET"]
    assert any(r.status == 304 and r.headers.get("if-none-match") for r in polls), \
        "polling never used If-None-Match"
    assert len(proxy.seen(STREAM_PATH)) == 3
    assert "connected" not in connection_history(page)
    assert server.streams()["opened_total"] == 0


def test_polling_goes_back_to_the_stream_when_it_works_again(
    proxy: ThreadedProxy, server: Api, open_page: Callable[..., StatusPage]
) -> None:
    """3: while polling during a running job, the stream path heals -> the periodic probe finds it and
    the page is ``connected`` again (and polling stops), then ends ``completed``."""
    proxy.set_mode(error_status=503)
    session_id = server.new_session()
    page = open_page(server, session_id, base_url=proxy.url, reconnectAttempts=1, reconnectDelay=100,
                     pollIntervalMs=150, sseProbeIntervalMs=300)
    server.start_job(session_id, profile="steady", steps=40, interval_ms=150)
    page.expect_connection("polling")
    wait_until(lambda: (page.seq() or 0) >= 3, 10, message="progress while polling")

    proxy.set_mode(error_status=None)
    page.expect_connection("connected", timeout_ms=3_000)
    status_path = f"/api/v1/sessions/{session_id}/status"
    polls_when_connected = sum(1 for r in proxy.seen() if r.path == status_path)
    assert page.status() == "processing", "the job must still be running when the stream comes back"
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)

    assert sum(1 for r in proxy.seen() if r.path == status_path) <= polls_when_connected + 1, \
        "polling went on after the stream came back"
    assert is_subsequence(["polling", "connected", "finished"], connection_history(page))
    assert server.streams() == {"open": 0, "opened_total": 1}


# ---- 4. and 5. tab visibility ------------------------------------------------------------------------------

GRACE_MS = 500


def test_hidden_tab_gives_its_stream_back_and_catches_up(
    server: Api, open_page: Callable[..., StatusPage]
) -> None:
    """4: hidden -> the server's open-stream count drops to 0 within the grace period + 1 s; events
    are published meanwhile; visible -> exactly one new stream and the latest status within 1 s."""
    session_id = server.new_session()
    page = open_page(server, session_id, hiddenGraceMs=GRACE_MS)
    page.expect_connection("connected")
    server.start_job(session_id, profile="steady", steps=40, interval_ms=150)
    wait_until(lambda: (page.seq() or 0) >= 3, 10, message="live events")
    assert server.streams() == {"open": 1, "opened_total": 1}

    page.set_hidden(True)
    hidden_at = time.monotonic()
    wait_until(lambda: server.streams()["open"] == 0, GRACE_MS / 1000 + SERVER_NOTICE_S,
               message="the server to see the hidden tab's stream close")
    assert time.monotonic() - hidden_at >= GRACE_MS / 1000 * 0.9, "closed before the grace period"
    read_before = page.event_ids()  # the server's stream is over: nothing more can arrive on it
    wait_until(lambda: server.snapshot(session_id)["seq"] >= read_before[-1] + 3, 5,
               message="events published while hidden")
    assert page.event_ids() == read_before, "the hidden page kept receiving events"

    latest = server.snapshot(session_id)["seq"]
    page.set_hidden(False)
    wait_until(lambda: (page.seq() or 0) >= latest, 1.0, message="the latest status after visible")
    streams = server.streams()
    assert streams["opened_total"] == 2 and streams["open"] <= 1
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
    logged = server.logged_seqs(session_id)
    assert_contiguous(page.event_ids(), logged[0], logged[-1])  # the replay filled the hidden gap


def test_rapid_hide_show_never_opens_two_streams(
    server: Api, open_page: Callable[..., StatusPage]
) -> None:
    """5: 20 rapid hide/show toggles, some shorter and some longer than the grace period: never more
    than one open stream (server count, sampled throughout, and the page's own EventSources); the
    final state is consistent (one stream, every event exactly once, ``completed``)."""
    session_id = server.new_session()
    page = open_page(server, session_id, hiddenGraceMs=40)
    page.expect_connection("connected")
    server.start_job(session_id, profile="steady", steps=40, interval_ms=120)

    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        own = Api(server.base_url, server.redis_url, server.token)  # its own connection pool
        try:
            while not stop.is_set():
                samples.append(own.streams()["open"])
        finally:
            own.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        page.page.evaluate("""async () => {
            const pause = (ms) => new Promise((r) => setTimeout(r, ms));
            const hiddenMs = [5, 80, 20, 120, 0, 60, 10, 150, 30, 90, 1, 70, 45, 100, 15, 200, 2, 65, 35, 110];
            for (const ms of hiddenMs) {
                window.__setHidden(true);
                await pause(ms);
                window.__setHidden(false);
                await pause(ms % 3 === 0 ? 0 : 25);
            }
        }""")
        page.expect_connection("connected")
        wait_until(lambda: server.streams()["open"] == 1, 5, message="one stream after the toggles")
    finally:
        stop.set()
        sampler.join(5)

    assert max(samples) <= 1, f"the server saw {max(samples)} open streams for one tab"
    spy = page.es_spy()
    assert spy["maxAlive"] == 1, spy
    assert spy["created"] >= 5, f"the toggles did not really close and reopen the stream: {spy}"
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
    logged = server.logged_seqs(session_id)
    assert_contiguous(page.event_ids(), logged[0], logged[-1])
    assert server.streams()["open"] == 0


# ---- 6. batching --------------------------------------------------------------------------------------


def test_bursts_render_at_most_once_per_frame(server: Api, open_page: Callable[..., StatusPage]) -> None:
    """6: a ``bursty`` job (hundreds of updates a second): no more renders than animation frames, never
    two in one frame, far fewer renders than events, and the final value is right."""
    session_id = server.new_session()
    page = open_page(server, session_id)
    page.expect_connection("connected")
    server.start_job(session_id, profile="bursty", steps=600, interval_ms=1)
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=20_000)

    events = len(page.event_ids())
    renders: list[dict[str, Any]] = page.page.evaluate("window.__renders")
    frames: int = page.page.evaluate("window.__frames")
    frame_times = [r["frameTime"] for r in renders]
    assert events >= 300, f"the burst was too small to test batching: {events} events"
    assert len(frame_times) == len(set(frame_times)), "two renders in one animation frame"
    assert len(renders) <= frames, (len(renders), frames)
    assert len(renders) * 2 < events, f"{len(renders)} renders for {events} events: not batched"
    final = server.snapshot(session_id)
    assert final["status"] == "completed"
    assert page.seq() == final["seq"] and page.progress() == 100
    assert renders[-1]["seq"] == final["seq"]


# ---- 7. and 8. cleanup ----------------------------------------------------------------------------------


def test_no_request_after_completed(server: Api, open_page: Callable[..., StatusPage]) -> None:
    """7: after ``completed`` the page makes no request for 5 s, even when the tab is hidden and shown
    again (a client that forgot to stop would reconnect, poll or probe here)."""
    session_id = server.new_session()
    page = open_page(server, session_id, reconnectDelay=100, pollIntervalMs=100, sseProbeIntervalMs=200,
                     hiddenGraceMs=50)
    log = page.requests
    page.expect_connection("connected")
    server.start_job(session_id, profile="steady", steps=5, interval_ms=100)
    expect(page.page.get_by_test_id("status")).to_have_text("completed", timeout=15_000)
    page.expect_connection("finished")
    before = len(log.urls)
    opened = server.streams()["opened_total"]

    page.set_hidden(True)
    page.page.wait_for_timeout(300)
    page.set_hidden(False)
    page.page.wait_for_timeout(4_700)  # the observation window itself: absence cannot be polled for

    assert log.urls[before:] == []
    assert server.streams() == {"open": 0, "opened_total": opened}
    assert page.es_spy()["alive"] == 0


@pytest.mark.parametrize("how", ["disconnect", "navigate-away", "close-page"])
def test_leaving_or_disconnect_closes_the_stream(
    how: str, server: Api, open_page: Callable[..., StatusPage]
) -> None:
    """8: ``disconnect()``, navigating away and closing the tab each close the stream on the server;
    after ``disconnect()`` nothing revives it (the retry-during-delay bug of some libraries)."""
    session_id = server.new_session()
    page = open_page(server, session_id, reconnectDelay=100, pollIntervalMs=100)
    page.expect_connection("connected")
    server.start_job(session_id, profile="steady", steps=40, interval_ms=150)
    wait_until(lambda: server.streams()["open"] == 1, 5, message="the stream to open")

    if how == "disconnect":
        page.page.evaluate("window.statusClient.disconnect()")
        page.expect_connection("disconnected")
    elif how == "navigate-away":
        page.page.goto("about:blank")
    else:
        page.page.close()
    wait_until(lambda: server.streams()["open"] == 0, SERVER_NOTICE_S + 1, message="the stream to close")

    if how == "disconnect":
        seq = page.seq()
        page.page.wait_for_timeout(1_000)  # ten reconnect delays: a revived stream would show up here
        assert server.streams() == {"open": 0, "opened_total": 1}
        assert page.seq() == seq and page.connection() == "disconnected"
        assert page.es_spy()["alive"] == 0


# ---- 9. auth and missing sessions -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "unknown-session"])
def test_not_logged_in_or_unknown_session_is_an_error_without_a_loop(
    who: str, server: Api, open_page: Callable[..., StatusPage]
) -> None:
    """9: no login (401) or a session that is not there (404) -> ``error`` with a message in words naming
    the status, one stream attempt and one diagnostic request, and no loop afterwards."""
    session_id = str(uuid.uuid4()) if who == "unknown-session" else server.new_session()
    page = open_page(server, session_id, signed_in=who != "anonymous", reconnectAttempts=3,
                     reconnectDelay=50, pollIntervalMs=50, sseProbeIntervalMs=100)
    log = page.requests
    page.expect_connection("error")
    words, code = ("Sign in first", "HTTP 401") if who == "anonymous" else ("No such session", "HTTP 404")
    expect(page.page.get_by_test_id("error")).to_contain_text(code)
    expect(page.page.get_by_test_id("error")).to_contain_text(words)

    page.page.wait_for_timeout(1_000)  # 20 reconnect delays: a loop would show up here
    spy = page.es_spy()
    assert spy["created"] == 1 and spy["alive"] == 0, spy
    assert log.count("/status/stream") == 1
    assert log.count("/status") == 1  # the diagnostic GET that told 401/404 from a proxy error
    assert page.connection() == "error"
    assert server.streams()["opened_total"] == 0
