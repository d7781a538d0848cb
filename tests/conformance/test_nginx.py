"""docs/deploy/nginx.conf, run by a real nginx in front of the real API: the recommended file passes (over
HTTP/1.1 and over TLS with HTTP/2); the usual mistakes — proxy buffering, gzip on text/event-stream —
fail the checks that name them."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable

import pytest

from conformance import CheckOptions, Outcome, Report, run_sync
from reference_app.launcher import ApiProcess
from tests.conformance.helpers import assert_all_pass, pop_opt_in
from tests.conformance.nginx_server import CONF, NGINX, nginx, replace_once

__all__ = ["nginx"]  # the fixture

pytestmark = [
    pytest.mark.nginx, pytest.mark.integration, pytest.mark.timeout(120),
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed"),
]

FAST = {"steps": 6, "interval_ms": 200, "idle_s": 2.5, "idle_limit_s": 5.0}


def check(url: str, **options: object) -> Report:
    return run_sync(CheckOptions(url, dev_login=f"nginx-{secrets.token_hex(4)}",
                                 **{**FAST, **options}))  # type: ignore[arg-type]


def failed(report: Report) -> dict[str, str]:
    return {r.id: r.message for r in report.results if r.outcome is Outcome.FAIL}


def test_recommended_config_passes(api: ApiProcess, nginx: Callable[..., str]) -> None:
    report = check(nginx(CONF.read_text(), api.url))
    outcomes = {r.id: r.outcome.value for r in report.results}
    assert report.ok, report.summary()
    assert outcomes.pop("headers.connection-h2") == "skip" and outcomes.pop("cors.credentials") == "skip"
    pop_opt_in(outcomes)  # each has its own test
    assert_all_pass(outcomes)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed for a test certificate")
def test_recommended_config_over_tls_negotiates_http2_and_passes(api: ApiProcess, nginx: Callable[..., str]) -> None:
    url = nginx(CONF.read_text(), api.url, tls=True)
    report = check(url, insecure=True, only=["stream", "headers", "timing", "resume.header"])
    assert report.http_version == "HTTP/2"
    assert report.ok, report.summary()
    assert report.get("headers.connection-h2").outcome is Outcome.PASS  # type: ignore[union-attr]
    assert report.get("headers.content-length").outcome is Outcome.PASS  # type: ignore[union-attr]


def _buffering_on(text: str) -> str:
    return replace_once(text, "proxy_buffering off;", "proxy_buffering on;")


def _ignore_x_accel(text: str) -> str:
    """What an origin that does not send X-Accel-Buffering: no gets (nginx buffers by default)."""
    return replace_once(text, "proxy_buffering on;",
                         "proxy_buffering on;\n            proxy_ignore_headers X-Accel-Buffering;")


def _gzip_event_stream(text: str) -> str:
    text = replace_once(text, "            gzip off;\n", "")
    return replace_once(text, "gzip_types application/json", "gzip_types text/event-stream application/json")


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        # Measured: nginx honours the API's X-Accel-Buffering: no, and its gzip filter then flushes every
        # upstream read, so events arrive on time but compressed (which the next hop may hold).
        pytest.param([_buffering_on, _gzip_event_stream],
                     {"headers.content-encoding": "compressed (Content-Encoding: gzip)"},
                     id="buffering-on+gzip"),
        # An origin without X-Accel-Buffering: no (here: nginx told to ignore it): gzip holds everything,
        # even the response headers of an idle stream.
        pytest.param([_buffering_on, _ignore_x_accel, _gzip_event_stream],
                     {"headers.content-encoding": "compressed (Content-Encoding: gzip)",
                      "stream.not-buffered": "in one burst at the end",
                      "idle.survival": "sent no response headers within"},
                     id="buffering-ignoring-x-accel+gzip"),
    ],
)
def test_misconfigurations_fail_the_checks_that_name_them(
    api: ApiProcess, nginx: Callable[..., str], edits: list[Callable[[str], str]], expected: dict[str, str]
) -> None:
    text = CONF.read_text()
    for edit in edits:
        text = edit(text)
    report = check(nginx(text, api.url), only=["headers.content-encoding", "stream.not-buffered", "idle.survival"])
    got = failed(report)
    assert set(got) == set(expected), report.summary()
    for check_id, fragment in expected.items():
        assert fragment in got[check_id], got[check_id]
