"""The client's state machine in Chromium with fake EventSource, fetch and timers (the ``env`` injection
point), for the decisions the real-stack tests cannot pin exactly: backoff bounds, the attempt count, the
CONNECTING/CLOSED split, a disconnect racing a retry timer, ``event: reset`` and option errors.

The module under test is the one the app serves (``/static/sse-status-client.js``); everything else in
the page is fake, so these run in milliseconds and need no job.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from reference_app.launcher import ApiProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

#: A fake browser environment: EventSources the test drives, fetch answers it queues, timers and
#: animation frames it runs by hand.
HARNESS = """
async ({ options, answers, random }) => {
  const { StatusClient } = await import("/static/sse-status-client.js");
  const h = { sources: [], fetches: [], timers: [], frames: [], renders: [], answers: [...answers] };
  class FakeEventSource {
    constructor(url) { this.url = url; this.readyState = 0; this.listeners = {}; this.closed = false;
                       h.sources.push(this); }
    addEventListener(type, fn) { (this.listeners[type] ??= []).push(fn); }
    close() { this.closed = true; this.readyState = 2; }
    emit(type, event = {}) { for (const fn of this.listeners[type] ?? []) fn(event); }
  }
  const fakeWindow = {
    setTimeout(fn, ms) { h.timers.push({ fn, ms, live: true }); return h.timers.length; },
    clearTimeout(id) { if (h.timers[id - 1]) h.timers[id - 1].live = false; },
    requestAnimationFrame(fn) { h.frames.push(fn); return h.frames.length; },
    cancelAnimationFrame(id) { h.frames[id - 1] = null; },
    addEventListener() {}, removeEventListener() {},
  };
  const fakeDocument = { visibilityState: "visible", addEventListener() {}, removeEventListener() {} };
  const fakeFetch = async (url, init) => {
    h.fetches.push({ url, headers: init.headers });
    const [code, body] = h.answers.length ? h.answers.shift() : [503, null];
    return new Response(code === 304 || body === null ? null : JSON.stringify(body),
                        { status: code, headers: { ETag: '"7"' } });
  };
  const client = new StatusClient("s1", options, {
    window: fakeWindow, document: fakeDocument, EventSource: FakeEventSource, fetch: fakeFetch,
    random: () => random,
  });
  client.subscribe((state) => h.renders.push(state));
  h.client = client;
  h.settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  h.frame = () => { const fns = h.frames.filter(Boolean); h.frames = []; fns.forEach((fn) => fn(0)); };
  h.liveTimers = () => h.timers.filter((t) => t.live);
  h.fireTimers = () => { const due = h.liveTimers(); due.forEach((t) => { t.live = false; t.fn(); }); return due; };
  h.last = () => h.sources[h.sources.length - 1];
  window.h = h;
  client.start();
}
"""

SNAPSHOT = {"session_id": "s1", "seq": 7, "status": "processing", "progress": 35.0, "message": "m",
            "timestamp": "2026-01-01T00:00:00.000000Z"}


@pytest.fixture
def harness(stack: ApiProcess, page: Page) -> Any:
    page.goto(f"{stack.url}/static/demo.css")  # any same-origin document can import the module

    def load(options: dict[str, Any], answers: list[Any] | None = None, random: float = 0.5) -> Page:
        page.evaluate(HARNESS, {"options": options, "answers": answers or [], "random": random})
        return page

    return load


def state(page: Page) -> dict[str, Any]:
    page.evaluate("h.frame()")
    result: dict[str, Any] = page.evaluate("h.client.getState()")
    return result


def test_browser_retry_is_never_doubled_and_attempts_run_out(harness: Any) -> None:
    """Errors while the browser retries by itself (readyState CONNECTING) open nothing; the attempt
    after the last one closes the browser's retry and polls (with the ETag on the next poll)."""
    page = harness({"reconnectAttempts": 3, "pollIntervalMs": 100},
                   answers=[[200, SNAPSHOT], [304, None]])
    page.evaluate("h.last().readyState = 1; h.last().emit('open')")
    assert state(page)["connectionStatus"] == "connected"
    for _ in range(3):
        page.evaluate("h.last().readyState = 0; h.last().emit('error')")
        assert state(page)["connectionStatus"] == "reconnecting"
    assert page.evaluate("h.sources.length") == 1
    assert page.evaluate("h.sources[0].closed") is False

    page.evaluate("h.last().emit('error')")
    page.evaluate("h.settle()")
    assert page.evaluate("h.sources.length") == 1 and page.evaluate("h.sources[0].closed") is True
    assert state(page)["connectionStatus"] == "polling"
    assert state(page)["status"]["seq"] == 7
    page.evaluate("h.liveTimers().filter(t => t.ms === 100).forEach(t => { t.live = false; t.fn(); })")
    page.evaluate("h.settle()")
    fetches = page.evaluate("h.fetches")
    assert fetches[1]["headers"].get("If-None-Match") == '"7"'


@pytest.mark.parametrize(("random", "expected"), [(0.0, [50, 100, 125, 125]), (1.0, [100, 200, 250, 250])])
def test_own_retries_back_off_with_equal_jitter_and_stop(harness: Any, random: float, expected: list[int]) -> None:
    """After the browser gave up (CLOSED) the client retries after min(cap, base * 2^(n-1)) drawn from
    [d/2, d], exactly ``reconnectAttempts`` times, resuming from the last id; then it polls."""
    page = harness({"reconnectAttempts": 4, "reconnectDelay": 100, "maxReconnectDelayMs": 250,
                    "sseProbeIntervalMs": 60_000}, random=random)
    page.evaluate("""(s) => { h.last().readyState = 1; h.last().emit('open');
        h.last().emit('status', { data: JSON.stringify(s), lastEventId: '7' }); }""", SNAPSHOT)
    delays = []
    for _ in range(4):
        page.evaluate("h.last().readyState = 2; h.last().emit('error')")
        page.evaluate("h.settle()")  # the diagnostic GET answers 503: transient
        fired = page.evaluate("h.fireTimers().map(t => t.ms)")
        delays.append(max(fired))
    assert delays == expected
    urls = page.evaluate("h.sources.map(s => s.url)")
    assert urls[0] == "/api/v1/sessions/s1/status/stream"
    assert urls[1:] == ["/api/v1/sessions/s1/status/stream?lastEventId=7"] * 4
    page.evaluate("h.last().readyState = 2; h.last().emit('error')")
    page.evaluate("h.settle()")
    assert page.evaluate("h.sources.length") == 5
    assert state(page)["connectionStatus"] == "polling"


def fire(page: Page, ms: int) -> int:
    """Run the live timers of exactly ``ms`` (one kind: a probe, a poll) and let their fetches answer."""
    count: int = page.evaluate(
        "(ms) => h.liveTimers().filter(t => t.ms === ms).map(t => { t.live = false; t.fn(); }).length", ms)
    page.evaluate("h.settle()")
    return count


def test_refused_stream_polls_at_once_and_keeps_retrying_the_stream(harness: Any) -> None:
    """Issue 11.8: the stream is refused (CLOSED) but ``GET .../status`` answers 200 -> ``polling`` at once
    with the polled status, while the stream is retried on the backoff schedule as probes: exactly
    ``reconnectAttempts`` of them, then one per ``sseProbeIntervalMs``. Polls in this phase do not move the
    resume point (the stream resumes after the last event it delivered); a probe that opens ends polling."""
    page = harness({"reconnectAttempts": 3, "reconnectDelay": 100, "maxReconnectDelayMs": 250,
                    "pollIntervalMs": 500, "sseProbeIntervalMs": 60_000},
                   answers=[[200, SNAPSHOT], [200, {**SNAPSHOT, "seq": 8, "progress": 40.0}]], random=1.0)
    page.evaluate("""(s) => { h.last().readyState = 1; h.last().emit('open');
        h.last().emit('status', { data: JSON.stringify({...s, seq: 5}), lastEventId: '5' }); }""", SNAPSHOT)
    page.evaluate("h.last().readyState = 2; h.last().emit('error')")
    page.evaluate("h.settle()")
    current = state(page)
    assert current["connectionStatus"] == "polling" and current["status"]["seq"] == 7
    assert sorted(page.evaluate("h.liveTimers().map(t => t.ms)")) == [100, 500]  # probe (backoff), poll

    assert fire(page, 500) == 1  # a poll, conditional on the diagnostic GET's ETag
    assert page.evaluate("h.fetches[1].headers['If-None-Match']") == '"7"'
    current = state(page)
    assert current["status"]["seq"] == 8 and current["lastEventId"] == "5"

    for expected_ms in (100, 200, 250):  # backoff 1, 2, 4 x 100 ms capped at 250, random = 1.0
        assert fire(page, expected_ms) == 1
        assert page.evaluate("h.last().url") == "/api/v1/sessions/s1/status/stream?lastEventId=5"
        assert state(page)["connectionStatus"] == "polling"  # a probe never shows "reconnecting"
        page.evaluate("h.last().readyState = 2; h.last().emit('error')")
        assert page.evaluate("h.last().closed") is True
    assert page.evaluate("h.sources.length") == 4  # 1 + reconnectAttempts
    assert 60_000 in page.evaluate("h.liveTimers().map(t => t.ms)")

    assert fire(page, 60_000) == 1
    page.evaluate("h.last().readyState = 1; h.last().emit('open')")
    assert state(page)["connectionStatus"] == "connected"
    assert page.evaluate("h.liveTimers().length") == 0  # polling stopped with the stream back


def test_refused_stream_without_polling_retries_then_says_why(harness: Any) -> None:
    """With ``enablePollingFallback: false`` a refused stream is retried (``reconnecting``) and, once the
    attempts are spent, ends in ``error`` with the reason ``unavailable``."""
    page = harness({"enablePollingFallback": False, "reconnectAttempts": 1, "reconnectDelay": 100},
                   answers=[[200, SNAPSHOT]], random=1.0)
    page.evaluate("h.last().readyState = 2; h.last().emit('error')")
    page.evaluate("h.settle()")
    assert state(page)["connectionStatus"] == "reconnecting"
    assert fire(page, 100) == 1
    page.evaluate("h.last().readyState = 2; h.last().emit('error')")
    page.evaluate("h.settle()")
    current = state(page)
    assert current["connectionStatus"] == "error" and current["errorReason"] == "unavailable"
    assert "polling is turned off" in current["error"]
    assert page.evaluate("h.liveTimers().length") == 0


@pytest.mark.parametrize(("code", "reason", "words"), [
    (401, "unauthorized", "Sign in first"),
    (403, "forbidden", "not allowed to see this session"),
    (404, "not-found", "No such session"),
    (422, "not-found", "No such session"),
])
def test_auth_and_missing_session_stop_everything(harness: Any, code: int, reason: str, words: str) -> None:
    """A CLOSED stream whose diagnostic GET answers 401/403/404/422 ends in ``error`` with nothing left
    scheduled: no timer, no second EventSource. The message is plain words with the status code and never
    the API's body (its ``detail`` is written for developers)."""
    page = harness({}, answers=[[code, {"detail": "send Authorization: Bearer <token>"}]])
    page.evaluate("h.last().readyState = 2; h.last().emit('error')")
    page.evaluate("h.settle()")
    current = state(page)
    assert current["connectionStatus"] == "error" and current["errorReason"] == reason
    assert words in current["error"] and f"(HTTP {code})" in current["error"]
    assert "Bearer" not in current["error"] and "{" not in current["error"]
    assert page.evaluate("h.liveTimers().length") == 0
    assert page.evaluate("h.sources.length") == 1


def test_disconnect_during_a_retry_delay_is_not_revived(harness: Any) -> None:
    """The bug of some libraries: ``close()`` while a retry timer is pending, the timer fires anyway and
    reopens. Here even a timer that fires after being cleared does nothing."""
    page = harness({"reconnectDelay": 100})
    page.evaluate("h.last().readyState = 2; h.last().emit('error')")
    page.evaluate("h.settle()")
    assert page.evaluate("h.liveTimers().length") >= 1
    page.evaluate("h.client.disconnect()")
    page.evaluate("h.timers.forEach(t => t.fn())")  # fire everything, cleared or not
    page.evaluate("h.settle()")
    assert page.evaluate("h.sources.length") == 1
    assert state(page)["connectionStatus"] == "disconnected"


def test_reset_accepts_the_snapshot_and_stale_events_are_skipped(harness: Any) -> None:
    """The display never goes backwards, except right after ``event: reset`` (the server's truth)."""
    page = harness({})
    emit = "([seq, id]) => h.last().emit('status', { data: JSON.stringify({...h.snap, seq}), lastEventId: id })"
    page.evaluate("(s) => { h.snap = s; }", SNAPSHOT)
    page.evaluate(emit, [10, "10"])
    page.evaluate(emit, [9, "9"])
    assert state(page)["status"]["seq"] == 10
    page.evaluate("h.last().emit('reset', { data: '{\"reason\":\"last_event_id_not_retained\"}', lastEventId: '' })")
    page.evaluate(emit, [3, "3"])
    current = state(page)
    assert current["status"]["seq"] == 3 and current["lastEventId"] == "3"


def test_terminal_status_and_finished_render_together(harness: Any) -> None:
    """A burst ending in ``completed`` renders once: the terminal status with ``finished`` (the job ended;
    ``disconnected`` is kept for a stop by the user or a hidden tab)."""
    page = harness({})
    page.evaluate("h.last().readyState = 1; h.last().emit('open'); h.frame(); h.renders.length = 0")
    page.evaluate("""(s) => { for (let seq = 8; seq <= 30; seq++) h.last().emit('status', {
        data: JSON.stringify({...s, seq, status: seq === 30 ? 'completed' : 'processing', progress: seq}),
        lastEventId: String(seq) }); }""", SNAPSHOT)
    assert page.evaluate("h.sources[0].closed") is True
    page.evaluate("h.frame()")
    renders = page.evaluate("h.renders")
    assert len(renders) == 1
    assert renders[0]["status"]["status"] == "completed" and renders[0]["connectionStatus"] == "finished"
    assert page.evaluate("h.liveTimers().length") == 0


@pytest.mark.parametrize(("options", "message"), [
    ({"reconnectAttempts": -1}, "reconnectAttempts must be a non-negative integer"),
    ({"pollIntervalMs": 10}, "pollIntervalMs must be at least 50"),
    ({"enableSSE": "yes"}, "enableSSE must be true or false"),
    ({"reconectAttempts": 3}, "unknown option(s): reconectAttempts"),
])
def test_bad_options_are_named(stack: ApiProcess, page: Page, options: dict[str, Any], message: str) -> None:
    page.goto(f"{stack.url}/static/demo.css")
    error = page.evaluate("""async (options) => {
        const { StatusClient } = await import("/static/sse-status-client.js");
        try { new StatusClient("s1", options); return null; } catch (e) { return `${e.name}: ${e.message}`; }
    }""", options)
    assert error is not None and error.startswith("TypeError") and message in error


def test_bad_query_parameter_is_shown_on_the_page(stack: ApiProcess, page: Page) -> None:
    """The demo page names a malformed option instead of silently using a default."""
    page.goto(f"{stack.url}/sessions/00000000-0000-4000-8000-000000000000?reconnectAttempts=many")
    page.get_by_test_id("error").wait_for()
    assert page.get_by_test_id("connection-status").inner_text() == "error"
    assert "reconnectAttempts must be a non-negative integer" in page.get_by_test_id("error").inner_text()


def test_polling_only_moves_the_resume_point(harness: Any) -> None:
    """With SSE off there is no stream to resume: polls set ``lastEventId`` to the polled seq (as before
    issue 11.8; only the retries of a refused stream keep it at the last streamed event)."""
    page = harness({"enableSSE": False, "pollIntervalMs": 100}, answers=[[200, SNAPSHOT]])
    page.evaluate("h.settle()")
    current = state(page)
    assert current["connectionStatus"] == "polling" and current["lastEventId"] == "7"
    assert page.evaluate("h.sources.length") == 0
    assert page.evaluate("h.liveTimers().map(t => t.ms)") == [100]  # the next poll, no probe
