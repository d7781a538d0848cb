"""Fixtures of the browser suite: which Chromium to launch, screenshots on failure, and the helpers every
test uses to drive the demo page against the real stack (uvicorn + Redis + Celery from the root conftest).

Browser choice: Playwright's own Chromium when it is installed, else the distribution's ``chromium``
(``--no-sandbox`` when running as root, where Chromium's sandbox refuses to start). No browser at all is a
hard error, never a skip: ``make browser`` (run by ``make test``) installs one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from e2e.browsers import NoChromium, chromium_overrides
from reference_app.api_client import login, new_session
from reference_app.bus.keys import log_key
from reference_app.launcher import ApiProcess, WorkerProcess, wait_until
from simulators.fault_proxy import ThreadedProxy, run_in_thread
from tests.auth import bearer

SCREENSHOT_DIR = Path(__file__).resolve().parent.parent / "test-results" / "e2e"
#: Playwright's waits in this suite: every expected change happens within a few seconds.
DEFAULT_TIMEOUT_MS = 10_000

#: Playwright has no API for tab visibility (pages always count as visible). This init script replaces
#: the two getters the page reads and lets the test flip them and fire ``visibilitychange``.
VISIBILITY_SCRIPT = """
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get() { return hidden ? "hidden" : "visible"; } });
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get() { return hidden; } });
  window.__setHidden = (value) => {
    if (hidden === !!value) return;
    hidden = !!value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();
"""

#: Counts what the page itself does with EventSource: how many were created and the most that were ever
#: alive (not closed) at once, so "never two streams" is checked in the browser as well as on the server.
EVENTSOURCE_SPY_SCRIPT = """
(() => {
  const Native = window.EventSource;
  const spy = { created: 0, alive: 0, maxAlive: 0, urls: [] };
  window.__esSpy = spy;
  class SpiedEventSource extends Native {
    constructor(url, init) {
      super(url, init);
      spy.created += 1; spy.alive += 1; spy.maxAlive = Math.max(spy.maxAlive, spy.alive);
      spy.urls.push(String(url));
      this.__counted = true;
      this.addEventListener("error", () => {
        if (this.readyState === Native.CLOSED && this.__counted) { this.__counted = false; spy.alive -= 1; }
      });
    }
    close() {
      if (this.__counted) { this.__counted = false; spy.alive -= 1; }
      super.close();
    }
  }
  window.EventSource = SpiedEventSource;
})();
"""

#: Counts animation frames from the first frame on, independently of the client under test.
FRAME_COUNTER_SCRIPT = """
(() => {
  window.__frames = 0;
  const tick = () => { window.__frames += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
})();
"""


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], playwright: Playwright
) -> dict[str, Any]:
    try:
        overrides = chromium_overrides(playwright.chromium.executable_path)
    except NoChromium as exc:
        raise pytest.UsageError(str(exc)) from exc
    return {**browser_type_launch_args, **overrides}


@pytest.fixture(scope="session")
def base_url() -> str | None:
    """No base URL: tests use absolute URLs of servers on ephemeral ports. Also replaces
    pytest-playwright's fallback ``base_url`` fixture, a plugin-instance method that pytest 9 deprecates
    (an error here, where warnings are errors)."""
    return None


# ---- screenshots on failure ------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Screenshot every open page when a test body fails, while its fixtures (and pages) still exist."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    browser = getattr(item, "funcargs", {}).get("browser")
    if not isinstance(browser, Browser):
        return
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-150:]
    saved = []
    for c, context in enumerate(browser.contexts):
        for p, page in enumerate(context.pages):
            path = SCREENSHOT_DIR / f"{stem}-{c}-{p}.png"
            try:
                page.screenshot(path=str(path), full_page=True, timeout=5_000)
            except Exception as exc:  # a crashed page must not hide the real failure
                report.sections.append(("screenshot", f"{path}: could not capture ({exc})"))
                continue
            saved.append(str(path))
    if saved:
        report.sections.append(("screenshots", "\n".join(saved)))


# ---- the stack, users and sessions ----------------------------------------------------------------------


@pytest.fixture
def stack(api: ApiProcess, celery_worker: WorkerProcess) -> ApiProcess:
    """The shared API (1 s heartbeat) with a real Celery worker running the jobs."""
    return api


@pytest.fixture
def user() -> str:
    """A user of this test alone, so the server's per-user stream counts are this test's."""
    return f"e2e-{uuid.uuid4().hex[:12]}"


class Api:
    """The HTTP side of a test: what the server says (sessions, jobs, open streams, the event log)."""

    def __init__(self, base_url: str, redis_url: str, token: str) -> None:
        self.base_url = base_url
        self.redis_url = redis_url
        self.token = token
        self.http = httpx.Client(base_url=base_url, headers=bearer(token), timeout=10)

    def new_session(self) -> str:
        return new_session(self.base_url, self.token, "e2e")

    def start_job(self, session_id: str, **params: Any) -> None:
        response = self.http.post(f"/api/v1/sessions/{session_id}/transcribe", json=params)
        assert response.status_code == 202, response.text

    def snapshot(self, session_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/sessions/{session_id}/status")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def streams(self) -> dict[str, int]:
        """``{"open", "opened_total"}`` for this user on the API process."""
        response = self.http.get("/api/v1/streams/me")
        response.raise_for_status()
        data: dict[str, int] = response.json()
        return data

    def logged_seqs(self, session_id: str) -> list[int]:
        """Every seq the server ever published for the session: the ids of its Redis Stream log."""
        client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        try:
            entries: list[tuple[str, Any]] = client.xrange(log_key(session_id))  # type: ignore[assignment]
        finally:
            client.close()
        return [int(entry_id.split("-")[0]) for entry_id, _ in entries]

    def close(self) -> None:
        self.http.close()


class RequestLog:
    """Every request a page makes, for "no further request" and "bounded attempts" checks."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        #: Requests whose response the page has read in full (for "the answer has arrived" waits).
        self.finished: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("requestfinished", lambda request: self.finished.append(request.url))

    def count(self, suffix: str) -> int:
        return sum(1 for url in self.urls if url.split("?")[0].endswith(suffix))


class StatusPage:
    """The demo page of one session, read through its DOM contract (docs/browser-client.md)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests = RequestLog(page)

    def connection(self) -> str:
        return self.page.get_by_test_id("connection-status").inner_text()

    def progress(self) -> float:
        return float(self.page.get_by_test_id("progress").get_attribute("aria-valuenow") or "nan")

    def status(self) -> str:
        return self.page.get_by_test_id("status").inner_text()

    def seq(self) -> int | None:
        value = self.page.get_by_test_id("status").get_attribute("data-seq")
        return int(value) if value is not None else None

    def event_ids(self) -> list[int]:
        """Ids of the ``status`` events the client read from the wire, in order (duplicates kept)."""
        ids: list[int] = self.page.evaluate(
            "window.__sseEvents.filter(e => e.type === 'status').map(e => Number(e.id))")
        return ids

    def es_spy(self) -> dict[str, Any]:
        spy: dict[str, Any] = self.page.evaluate("({...window.__esSpy})")
        return spy

    def set_hidden(self, hidden: bool) -> None:
        self.page.evaluate("(h) => window.__setHidden(h)", hidden)

    def expect_connection(self, state: str, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
        from playwright.sync_api import expect

        expect(self.page.get_by_test_id("connection-status")).to_have_text(state, timeout=timeout_ms)

    def wait_connection(self, states: set[str], timeout: float = 10) -> str:
        """Wait until the indicator shows one of ``states`` (several may pass by quickly)."""
        return str(wait_until(lambda: self.connection() in states and self.connection(), timeout,
                              message=f"connection status in {sorted(states)}"))


@pytest.fixture
def make_api(redis_url: str) -> Iterator[Callable[[str, str], Api]]:
    made: list[Api] = []

    def make(base_url: str, username: str) -> Api:
        client = Api(base_url, redis_url, login(base_url, username))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def server(stack: ApiProcess, user: str, make_api: Callable[[str, str], Api]) -> Api:
    return make_api(stack.url, user)


#: The two pages with one DOM contract and the same query options: the plain page and the React page
#: over ``useTranscriptionStatusSSE`` (clients/react, docs/react-hook.md). Every test that opens a page
#: through ``open_page`` runs on both.
DEMO_PAGES = {"plain": "/sessions/", "react": "/react-demo/sessions/"}


@pytest.fixture(params=list(DEMO_PAGES))
def demo_page(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_page(
    context: BrowserContext, demo_page: str,
) -> Callable[..., StatusPage]:
    """Open the session page (``/sessions/{id}`` or ``/react-demo/sessions/{id}``) signed in as the API
    client's user, with the test hooks installed."""
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.add_init_script(VISIBILITY_SCRIPT)
    context.add_init_script(EVENTSOURCE_SPY_SCRIPT)
    context.add_init_script(FRAME_COUNTER_SCRIPT)

    def open_(api: Api, session_id: str, base_url: str | None = None, signed_in: bool = True,
              **options: int | bool) -> StatusPage:
        base = base_url or api.base_url
        if signed_in:
            context.add_cookies([{"name": "access_token", "value": api.token, "url": base}])
        query = "&".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in options.items())
        status_page = StatusPage(context.new_page())
        url = f"{base}{DEMO_PAGES[demo_page]}{session_id}" + (f"?{query}" if query else "")
        response = status_page.page.goto(url)
        assert response is not None and response.ok, f"{url}: {response and (response.status, response.text())}"
        status_page.page.wait_for_function("() => window.statusClient !== undefined")
        return status_page

    return open_


# ---- the React modules' fixtures (test_react_*.py; e2e/react_support.py has their helpers) -------------


@pytest.fixture
def variant() -> str:
    """Which bundle a React test runs: the real hook; ``BOTH`` parametrises the original design's too."""
    return "hook"


@pytest.fixture
def react_page(
    variant: str, context: BrowserContext, open_page: Callable[..., StatusPage]
) -> Callable[..., StatusPage]:
    """``open_page`` on /react-demo, running the real hook or (``variant``) the original design's."""
    from e2e.react_support import serve_variant  # it imports this module's Api

    serve_variant(context, variant)
    return open_page


@pytest.fixture
def gate(stack: ApiProcess) -> Iterator[ThreadedProxy]:
    """The fault proxy in front of the stack (it answers the stream path 503 on demand, logs requests)."""
    with run_in_thread(stack.url) as proxy:
        yield proxy
