"""Regenerate ``docs/img/demo-progress.png``: the session page mid-progress, against a real stack.

    .venv/bin/python -m e2e.capture_demo_screenshot [--out docs/img/demo-progress.png]

Starts an embedded Redis, a Celery worker and the API, runs a slow ``steady`` job and takes the picture
once the bar is between 40 and 70 %.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from e2e.browsers import chromium_overrides
from reference_app.api_client import login, new_session
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import ApiProcess, WorkerProcess, wait_until

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "demo-progress.png"


def capture(out: Path) -> None:
    with EmbeddedRedis() as redis_server, WorkerProcess(redis_server.url), \
            ApiProcess(redis_server.url) as api:
        token = login(api.url, "demo")
        session_id = new_session(api.url, token, "Board meeting 2026-03-02")
        with sync_playwright() as p:
            browser = p.chromium.launch(**chromium_overrides(p.chromium.executable_path))
            context = browser.new_context(viewport={"width": 760, "height": 430}, device_scale_factor=1)
            context.add_cookies([{"name": "access_token", "value": token, "url": api.url}])
            page = context.new_page()
            page.goto(f"{api.url}/sessions/{session_id}")
            page.get_by_test_id("connection-status").filter(has_text="connected").wait_for()
            response = httpx.post(f"{api.url}/api/v1/sessions/{session_id}/transcribe",
                                  json={"profile": "steady", "steps": 30, "interval_ms": 250},
                                  headers={"Authorization": f"Bearer {token}"}, timeout=10)
            response.raise_for_status()

            def mid_progress() -> bool:
                value = float(page.get_by_test_id("progress").get_attribute("aria-valuenow") or 0)
                return 40 <= value <= 70

            wait_until(mid_progress, 20, message="progress between 40 and 70 %")
            page.wait_for_timeout(150)  # let the bar's 120 ms width transition finish
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            browser.close()
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    capture(parser.parse_args().out)


if __name__ == "__main__":
    main()
