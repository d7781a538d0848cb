"""Shared by the React page's e2e modules (test_react_*.py): which bundle a test runs, how a verdict is
reached for the real hook and for the original design's, and a sampler of the server's open streams."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Route

from e2e.conftest import Api
from reference_app.launcher import wait_until
from simulators.fault_proxy import STREAM_PATH, ThreadedProxy

ROOT = Path(__file__).resolve().parent.parent
REAL_BUNDLE = ROOT / "reference_app" / "static" / "react" / "react-demo.js"
BROKEN_BUNDLE = ROOT / "clients" / "react" / "dist-test" / "original-design-demo.js"
#: Run a check on the real hook and on the original design's (where it must fail).
BOTH = pytest.mark.parametrize("variant", ["hook", "original-design"])
#: A TCP close reaching the server's stream registry: one event-loop turn plus slack.
SERVER_NOTICE_S = 2.0
#: Absence of requests cannot be waited for: each such window is longer than every timer it covers.
QUIET_S = 2.5
Check = Callable[[], dict[str, Any]]


def serve_variant(context: BrowserContext, variant: str) -> None:
    """Make /react-demo run ``variant``: the real bundle, or the original design's test bundle served in
    its place (never by the app)."""
    assert REAL_BUNDLE.is_file(), f"{REAL_BUNDLE} is missing: run `make react`"
    if variant == "hook":
        return
    assert variant == "original-design", variant
    assert BROKEN_BUNDLE.is_file(), f"{BROKEN_BUNDLE} is missing: run `make react`"

    def serve_broken(route: Route) -> None:
        route.fulfill(path=str(BROKEN_BUNDLE), content_type="text/javascript; charset=utf-8")

    context.route("**/static/react/react-demo.js", serve_broken)


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


def stream_count(proxy: ThreadedProxy) -> int:
    """Stream requests the fault proxy has seen."""
    return len(proxy.seen(STREAM_PATH))
