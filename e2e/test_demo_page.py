"""Issue 11, item 8: the demo page ``/sessions/{id}`` as a user sees it, in real Chromium against the real
stack. Each test fails on the page as it was before the item: the end of a job read as a grey
"disconnected" with live buttons, ``/sessions/not-a-uuid`` showed FastAPI's 422 JSON, the title was not
shown, a refused stream showed "reconnecting" for about 25 s before any status, and a long query string
was echoed whole and widened the page.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import DEFAULT_TIMEOUT_MS, DEMO_PAGES, Api, StatusPage
from e2e.test_status_page import connection_history
from reference_app.api_client import new_session
from reference_app.launcher import ApiProcess, wait_until
from simulators.fault_proxy import STREAM_PATH, ThreadedProxy, run_in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

#: Issue 11.8: a refused stream shows live status through polling within this long.
POLLING_WITHIN_S = 5.0
#: The longest backoff gap of the default options (reconnectDelay 1 s doubled four times, full jitter
#: draw), plus slack on two shared cores: after the stream path heals, a probe finds it within this long.
DEFAULT_PROBE_GAP_S = 16.0 + 4.0
JSON_MARKERS = ('{"', '"detail"', '"loc"', "[{")


@pytest.fixture
def proxy(stack: ApiProcess) -> Iterator[ThreadedProxy]:
    """The fault proxy in front of the stack: it answers the stream path 503 on demand, logs requests."""
    with run_in_thread(stack.url) as fault_proxy:
        yield fault_proxy


def button(page: Page, name: str) -> dict[str, bool]:
    locator = page.get_by_test_id(name)
    return {"enabled": locator.is_enabled(), "visible": locator.is_visible()}


def assert_no_json(page: Page) -> None:
    text = page.locator("body").inner_text()
    assert not any(marker in text for marker in JSON_MARKERS), f"raw JSON on the page: {text!r}"


def horizontal_overflow(page: Page) -> dict[str, float]:
    """How far the page and its widest element reach past the viewport (0 when nothing does)."""
    result: dict[str, float] = page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        let widest = 0;
        for (const el of document.querySelectorAll("main *")) {
            if (el.getClientRects().length) widest = Math.max(widest, el.getBoundingClientRect().right);
        }
        return { page: document.documentElement.scrollWidth - width, element: Math.max(0, widest - width) };
    }""")
    return result


# ---- the end of a job ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "final", "detail"), [
    ({"profile": "steady", "steps": 6, "interval_ms": 100}, "completed", "The job is done"),
    ({"profile": "fail_at", "steps": 6, "fail_at": 3, "interval_ms": 100}, "failed", "The job failed"),
])
def test_a_finished_job_says_finished_and_disables_the_controls(
    server: Api, open_page: Callable[..., StatusPage], params: dict[str, object], final: str, detail: str,
) -> None:
    """The controls follow the state (Disconnect while live, Reconnect after a stop, clicked as a user
    would), and when the job ends the indicator reads ``finished`` in its own colour, never the grey
    ``disconnected`` of a stop, with both controls disabled."""
    session_id = server.new_session()
    page = open_page(server, session_id)
    p = page.page
    page.expect_connection("connected")
    assert button(p, "disconnect") == {"enabled": True, "visible": True}
    assert button(p, "reconnect")["enabled"] is False  # already live: nothing to reconnect

    p.get_by_test_id("disconnect").click()
    page.expect_connection("disconnected")
    expect(p.get_by_test_id("disconnect")).to_be_disabled()
    expect(p.get_by_test_id("reconnect")).to_be_enabled()
    stopped_colour = p.get_by_test_id("connection-status").evaluate("e => getComputedStyle(e).backgroundColor")
    p.get_by_test_id("reconnect").click()
    page.expect_connection("connected")

    server.start_job(session_id, **params)
    expect(p.get_by_test_id("status")).to_have_text(final, timeout=15_000)
    indicator = p.get_by_test_id("connection-status")
    expect(indicator).to_have_text("finished")
    expect(indicator).to_have_attribute("data-state", "finished")
    expect(p.get_by_test_id("connection-detail")).to_contain_text(detail)
    expect(p.get_by_test_id("disconnect")).to_be_disabled()
    expect(p.get_by_test_id("reconnect")).to_be_disabled()
    assert indicator.evaluate("e => getComputedStyle(e).backgroundColor") != stopped_colour
    assert page.es_spy()["alive"] == 0


# ---- errors in words -----------------------------------------------------------------------------------


def test_a_malformed_session_id_says_no_such_session(
    stack: ApiProcess, context: BrowserContext, demo_page: str
) -> None:
    """``/sessions/not-a-uuid`` (plain and React page) is a 404 page saying "no such session" with a way
    on, not FastAPI's 422 JSON; no request to the API for an id that cannot exist."""
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(f"{stack.url}{DEMO_PAGES[demo_page]}not-a-uuid")
    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    error = page.get_by_test_id("error")
    expect(error).to_have_text('No such session: "not-a-uuid" is not a session id. Check the link, or start '
                               "a new transcription.")
    expect(error).to_have_attribute("data-reason", "not-found")
    expect(page.get_by_test_id("connection-status")).to_have_text("error")
    expect(page.get_by_test_id("error-action")).to_have_text("Start a new transcription")
    expect(page.get_by_test_id("error-action")).to_have_attribute("href", "/")
    expect(page.get_by_test_id("disconnect")).to_be_disabled()
    expect(page.get_by_test_id("reconnect")).to_be_disabled()
    assert_no_json(page)
    assert not [url for url in requests if "/api/" in url], requests


@pytest.mark.parametrize(("who", "words", "reason", "action"), [
    ("anonymous", "Sign in first: you are not signed in, or your sign-in has expired (HTTP 401).",
     "unauthorized", "Sign in on the start page"),
    ("unknown-session", "No such session: it does not exist, has expired or belongs to someone else (HTTP 404).",
     "not-found", "Start a new transcription"),
    ("someone-elses", "No such session: it does not exist, has expired or belongs to someone else (HTTP 404).",
     "not-found", "Start a new transcription"),
])
def test_api_errors_are_shown_in_words(
    who: str, words: str, reason: str, action: str, server: Api, make_api: Callable[[str, str], Api],
    open_page: Callable[..., StatusPage],
) -> None:
    """401 and 404 from the API read as "sign in first" / "no such session" with a link on, never the
    API's body; Reconnect stays available only where it can help (after signing in)."""
    if who == "someone-elses":
        other = make_api(server.base_url, f"other-{uuid.uuid4().hex[:8]}")
        session_id = other.new_session()
    else:
        session_id = str(uuid.uuid4()) if who == "unknown-session" else server.new_session()
    page = open_page(server, session_id, signed_in=who != "anonymous")
    p = page.page
    page.expect_connection("error")
    expect(p.get_by_test_id("error")).to_have_text(words)
    expect(p.get_by_test_id("error")).to_have_attribute("data-reason", reason)
    expect(p.get_by_test_id("error-action")).to_have_text(action)
    expect(p.get_by_test_id("disconnect")).to_be_disabled()
    if reason == "unauthorized":
        expect(p.get_by_test_id("reconnect")).to_be_enabled()
    else:
        expect(p.get_by_test_id("reconnect")).to_be_disabled()
    expect(p.get_by_test_id("session-title")).to_have_text("Transcription")  # no title for a refused session
    assert_no_json(p)


# ---- the title -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("title", "shown"), [
    ("Board meeting 2026-03-02", "Board meeting 2026-03-02"),
    ("<b>not markup</b> & co", "<b>not markup</b> & co"),
    ("", "Untitled session"),
    ("W" * 200, "W" * 200),
])
def test_the_session_title_is_shown(
    title: str, shown: str, server: Api, open_page: Callable[..., StatusPage]
) -> None:
    """The heading is the session's title (as text, never markup; "Untitled session" when empty) and so is
    the tab's title; a 200-character title without a space wraps instead of widening the page."""
    session_id = new_session(server.base_url, server.token, title)
    page = open_page(server, session_id)
    p = page.page
    heading = p.get_by_test_id("session-title")
    expect(heading).to_have_attribute("data-loaded", "true")
    expect(heading).to_have_text(shown)
    assert heading.evaluate("e => e.children.length") == 0
    assert p.title() == f"{shown} · Transcription status"
    if not title:
        expect(heading).to_have_attribute("data-untitled", "true")
    expect(p.get_by_test_id("session-id")).to_have_text(session_id)
    assert horizontal_overflow(p) == {"page": 0, "element": 0}


# ---- a refused stream ----------------------------------------------------------------------------------


def test_a_refused_stream_shows_live_status_by_polling_within_5_s_and_keeps_probing(
    proxy: ThreadedProxy, server: Api, open_page: Callable[..., StatusPage]
) -> None:
    """With the page's default options, the stream path answering 503 (a CDN with an unhealthy origin):
    live status through polling within 5 s of opening the page (it was "reconnecting" for ~25 s), the
    stream is retried meanwhile, and once the path heals the page is back on the stream, then finished."""
    proxy.set_mode(error_status=503)
    session_id = server.new_session()
    server.start_job(session_id, profile="steady", steps=400, interval_ms=100)
    opened_at = time.monotonic()
    page = open_page(server, session_id, base_url=proxy.url)
    p = page.page
    page.expect_connection("polling", timeout_ms=int(POLLING_WITHIN_S * 1000))
    wait_until(lambda: page.status() == "processing", POLLING_WITHIN_S, message="a live status while polling")
    assert time.monotonic() - opened_at <= POLLING_WITHIN_S, "no live status within 5 s of opening the page"
    first_seq = page.seq() or 0
    expect(p.get_by_test_id("connection-detail")).to_contain_text(
        "checking for updates every 2 s while retrying the stream")
    expect(p.get_by_test_id("disconnect")).to_be_enabled()
    expect(p.get_by_test_id("reconnect")).to_be_enabled()

    # Polling is live (the shown seq moves) and the stream keeps being tried (default backoff: the
    # second try 0.5-1 s after the first, the third 1-2 s after that).
    wait_until(lambda: (page.seq() or 0) > first_seq, 5, message="the polled status to move")
    wait_until(lambda: len(proxy.seen(STREAM_PATH)) >= 3, 5, message="the stream to be retried")
    assert page.connection() == "polling"
    history = connection_history(page)
    assert "reconnecting" not in history[history.index("polling"):], f"went back to reconnecting: {history}"
    assert server.streams()["opened_total"] == 0

    proxy.set_mode(error_status=None)
    page.expect_connection("connected", timeout_ms=int(DEFAULT_PROBE_GAP_S * 1000))
    assert page.status() == "processing", "the job must still run when the stream comes back"
    expect(p.get_by_test_id("status")).to_have_text("completed", timeout=40_000)
    page.expect_connection("finished")
    assert server.streams() == {"open": 0, "opened_total": 1}
    assert page.es_spy()["maxAlive"] == 1


# ---- long addresses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport_width", [1280, 360])
@pytest.mark.parametrize("query", [
    "reconnectAttempts=" + "9" * 4000,
    "x" * 4000 + "=1",
    "&".join(["pollIntervalMs=300"] * 200),
])
def test_a_long_query_string_does_not_break_the_layout(
    query: str, viewport_width: int, stack: ApiProcess, context: BrowserContext
) -> None:
    """A 4,000-character query string: the page stays within the viewport (no sideways scroll, no
    element past the edge, desktop and phone width), and a bad value is echoed shortened, not whole."""
    page = context.new_page()
    page.set_viewport_size({"width": viewport_width, "height": 800})
    page.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page.goto(f"{stack.url}/sessions/{uuid.uuid4()}?{query}")
    expect(page.get_by_test_id("connection-status")).to_have_text("error")  # bad option, or not signed in
    assert horizontal_overflow(page) == {"page": 0, "element": 0}
    error = page.get_by_test_id("error").inner_text()
    assert len(error) < 800, f"the address was echoed whole ({len(error)} characters)"
    if not query.startswith("pollIntervalMs"):
        assert "(4000 characters)" in error or "(4001 characters)" in error, error
        assert_no_json(page)


# ---- the index page -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fill", "words"), [
    ({"steps": "99999"}, "Check the form: Steps: Input should be less than or equal to 5000."),
    ({"profile": "fail_at"},
     "Check the form: profile 'fail_at' needs fail_at (the step at which the job fails)."),
])
def test_the_index_page_names_the_field_in_words(
    fill: dict[str, str], words: str, stack: ApiProcess, user: str, context: BrowserContext
) -> None:
    """A 422 from the API names the form field by its label, in words, without the API's JSON or
    pydantic's "Value error," prefix (the browser's own form checks are switched off to reach the API)."""
    page = context.new_page()
    page.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page.goto(f"{stack.url}/")
    page.get_by_test_id("username").fill(user)
    page.get_by_test_id("login").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text(f"Signed in as {user}.")
    page.locator("#job-form").evaluate("form => { form.noValidate = true; }")
    if "steps" in fill:
        page.get_by_test_id("steps").fill(fill["steps"])
    if "profile" in fill:
        page.get_by_test_id("profile").select_option(fill["profile"])
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("index-error")).to_have_text(words)
    assert page.url == f"{stack.url}/"
    assert_no_json(page)
