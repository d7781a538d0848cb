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


@pytest.mark.parametrize(("code", "text"), [(401, "HTTP 401"), (403, "HTTP 403"), (404, "HTTP 404")])
def test_auth_and_missing_session_stop_everything(harness: Any, code: int, text: str) -> None:
    """A CLOSED stream whose diagnostic GET answers 401/403/404 ends in ``error`` with nothing left
    scheduled: no timer, no second EventSource."""
    page = harness({}, answers=[[code, {"detail": "nope"}]])
    page.evaluate("h.last().readyState = 2; h.last().emit('error')")
    page.evaluate("h.settle()")
    current = state(page)
    assert current["connectionStatus"] == "error" and text in current["error"] and "nope" in current["error"]
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


def test_terminal_status_and_disconnected_render_together(harness: Any) -> None:
    """A burst ending in ``completed`` renders once: the terminal status with ``disconnected``."""
    page = harness({})
    page.evaluate("h.last().readyState = 1; h.last().emit('open'); h.frame(); h.renders.length = 0")
    page.evaluate("""(s) => { for (let seq = 8; seq <= 30; seq++) h.last().emit('status', {
        data: JSON.stringify({...s, seq, status: seq === 30 ? 'completed' : 'processing', progress: seq}),
        lastEventId: String(seq) }); }""", SNAPSHOT)
    assert page.evaluate("h.sources[0].closed") is True
    page.evaluate("h.frame()")
    renders = page.evaluate("h.renders")
    assert len(renders) == 1
    assert renders[0]["status"]["status"] == "completed" and renders[0]["connectionStatus"] == "disconnected"
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
