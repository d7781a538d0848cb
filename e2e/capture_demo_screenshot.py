"""Regenerate the pictures of the demo page in ``docs/img/``, against a real stack:

* ``demo-progress.png`` — mid-progress on the live stream (the bar between 40 and 70 %);
* ``demo-finished.png`` — the job ended: ``finished``, both controls disabled;
* ``demo-polling.png`` — the stream path answers 503, the page polls (live status) while it retries.

    .venv/bin/python -m e2e.capture_demo_screenshot [--out-dir docs/img]

Starts an embedded Redis, a Celery worker and the API and runs slow ``steady`` jobs. The refused stream is
Chromium's own request answered 503 by Playwright's router (what a CDN sends for an unhealthy origin).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page, Route, ViewportSize, sync_playwright

from e2e.browsers import chromium_overrides
from reference_app.api_client import login, new_session
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import ApiProcess, WorkerProcess, wait_until

DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "docs" / "img"
VIEWPORT: ViewportSize = {"width": 760, "height": 470}
#: The bar's width transition is 120 ms: let it finish before the picture.
SETTLE_MS = 200


def _start_job(api: ApiProcess, token: str, session_id: str, steps: int, interval_ms: int) -> None:
    response = httpx.post(f"{api.url}/api/v1/sessions/{session_id}/transcribe",
                          json={"profile": "steady", "steps": steps, "interval_ms": interval_ms},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()


def _progress(page: Page) -> float:
    return float(page.get_by_test_id("progress").get_attribute("aria-valuenow") or 0)


def _open(context: BrowserContext, api: ApiProcess, session_id: str) -> Page:
    page = context.new_page()
    page.goto(f"{api.url}/sessions/{session_id}")
    page.get_by_test_id("session-title").and_(page.locator("[data-loaded=true]")).wait_for()
    return page


def _shoot(page: Page, out: Path) -> None:
    page.wait_for_timeout(SETTLE_MS)
    page.screenshot(path=str(out))
    print(f"wrote {out}")


def capture(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with EmbeddedRedis() as redis_server, WorkerProcess(redis_server.url), \
            ApiProcess(redis_server.url) as api:
        token = login(api.url, "demo")
        with sync_playwright() as p:
            browser = p.chromium.launch(**chromium_overrides(p.chromium.executable_path))
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            context.add_cookies([{"name": "access_token", "value": token, "url": api.url}])

            # Live on the stream, mid-progress; then the same page once the job has ended.
            session_id = new_session(api.url, token, "Board meeting 2026-03-02")
            page = _open(context, api, session_id)
            page.get_by_test_id("connection-status").filter(has_text="connected").wait_for()
            _start_job(api, token, session_id, steps=30, interval_ms=250)
            wait_until(lambda: 40 <= _progress(page) <= 70, 20, message="progress between 40 and 70 %")
            _shoot(page, out_dir / "demo-progress.png")
            page.get_by_test_id("connection-status").filter(has_text="finished").wait_for(timeout=20_000)
            _shoot(page, out_dir / "demo-finished.png")
            page.close()

            # The stream path refused: live status through polling while the stream is retried.
            def refuse(route: Route) -> None:
                route.fulfill(status=503, content_type="application/json",
                              body='{"detail":"origin unavailable"}')

            context.route("**/status/stream*", refuse)
            session_id = new_session(api.url, token, "Weekly stand-up (stream path down)")
            _start_job(api, token, session_id, steps=60, interval_ms=250)
            page = _open(context, api, session_id)
            page.get_by_test_id("connection-status").filter(has_text="polling").wait_for(timeout=5_000)
            wait_until(lambda: 20 <= _progress(page) <= 80, 20, message="polled progress between 20 and 80 %")
            _shoot(page, out_dir / "demo-polling.png")
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    capture(parser.parse_args().out_dir)


if __name__ == "__main__":
    main()
