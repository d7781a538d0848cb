"""Shared assertions for the conformance tests."""

from __future__ import annotations

import contextlib
import http.server
import shlex
import sys
import threading
from collections.abc import Callable, Iterator

#: judged on wall-clock timings: a heavily loaded CI box may push them to a warning, never to a failure
#: (their thresholds are pinned by the unit tests in test_checks_unit.py)
TIMING_CHECKS = {"timing.headers", "timing.first-event", "stream.not-buffered"}


#: checks that run only when their option is given (each costs a target's own setting in time, or needs
#: the operator's hook); a default run skips them, saying so
OPT_IN_CHECKS = {"stream.stalled", "stream.lifetime", "stream.slow-reader", "bus.down-503", "shutdown.sigterm"}


def pop_opt_in(outcomes: dict[str, str]) -> None:
    """Remove the opt-in checks, asserting that a default run skipped each of them."""
    for check_id in OPT_IN_CHECKS:
        assert outcomes.pop(check_id) == "skip", check_id


def assert_all_pass(outcomes: dict[str, str]) -> None:
    """Every check passed, except that a timing check may have warned."""
    not_pass = {k: v for k, v in outcomes.items() if v != "pass"}
    assert all(k in TIMING_CHECKS and v == "warn" for k, v in not_pass.items()), not_pass


def post_cmd(url: str) -> str:
    """A hook command (``--bus-down-cmd`` and the like) that POSTs to ``url``: Python, not curl (not assumed
    installed); exits non-zero when the answer is not 2xx."""
    code = f"import urllib.request as u; u.urlopen(u.Request({url!r}, method='POST'), timeout=10)"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


@contextlib.contextmanager
def control_server(actions: dict[str, Callable[[], object]]) -> Iterator[str]:
    """A loopback HTTP server whose ``POST /NAME`` runs ``actions[NAME]`` (e.g. kill or restart a real
    redis-server that this test process owns, so the fixture cleans it up whatever happens); yields its URL.
    Answers 500 when the action raised, so the hook command fails (exit 2) instead of a silent no-op."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            action = actions.get(self.path.strip("/"))
            try:
                if action is None:
                    raise KeyError(self.path)
                action()
                self.send_response(204)
            except Exception:
                self.send_response(500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
