"""docs/deploy/nginx.conf, run by a real nginx in front of the real API: the recommended file passes (over
HTTP/1.1 and over TLS with HTTP/2); the usual mistakes — proxy buffering, gzip on text/event-stream —
fail the checks that name them."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conformance import CheckOptions, Outcome, Report, run_sync
from reference_app.embedded_redis import free_port
from reference_app.launcher import ApiProcess, wait_until
from tests.conformance.helpers import assert_all_pass

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONF = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "nginx.conf"

pytestmark = [
    pytest.mark.nginx, pytest.mark.integration, pytest.mark.timeout(120),
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed"),
]

FAST = {"steps": 6, "interval_ms": 200, "idle_s": 2.5}


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"docs/deploy/nginx.conf changed: expected one {old!r}"
    return text.replace(old, new)


def render(text: str, prefix: Path, port: int, upstream: str, tls: tuple[Path, Path] | None = None) -> str:
    """The documented file with only the marked listen/upstream lines (and file locations) changed."""
    text = re.sub(r"server 127\.0\.0\.1:8000;", f"server {upstream};", text, count=1)
    listen = f"listen 127.0.0.1:{port}"
    if tls is not None:
        listen += f" ssl http2;\n        ssl_certificate {tls[0]};\n        ssl_certificate_key {tls[1]}"
    text = _replace_once(text, "listen 8080;", listen + ";")
    tmp = prefix / "tmp"
    paths = "".join(f"    {name}_temp_path {tmp / name};\n" for name in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = _replace_once(text, "http {\n", "http {\n" + paths + "    access_log off;\n")
    head = f"pid {prefix / 'nginx.pid'};\n" + ("user root;\n" if os.geteuid() == 0 else "")
    return head + text


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start nginx (not daemonised, a child of the test) with a config text; returns its base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(config: str, upstream: str, tls: bool = False) -> str:
        prefix = tmp_path / f"nginx-{len(processes)}"
        (prefix / "tmp").mkdir(parents=True)
        cert = None
        if tls:
            cert = (prefix / "cert.pem", prefix / "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-keyout", str(cert[1]), "-out", str(cert[0])],
                           check=True, capture_output=True, timeout=60)
        port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(render(config, prefix, port, upstream.removeprefix("http://"), cert))
        log = prefix / "error.log"
        process = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(log),
                                    "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        processes.append(process)
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {log.read_text() if log.exists() else ''}")
            try:
                return httpx.get(url + "/healthz", verify=False, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 15, 0.05, "nginx to proxy /healthz")
        return url

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


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
    assert_all_pass(outcomes)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed for a test certificate")
def test_recommended_config_over_tls_negotiates_http2_and_passes(api: ApiProcess, nginx: Callable[..., str]) -> None:
    url = nginx(CONF.read_text(), api.url, tls=True)
    report = check(url, verify=False, only=["stream", "headers", "timing", "resume.header"])
    assert report.http_version == "HTTP/2"
    assert report.ok, report.summary()
    assert report.get("headers.connection-h2").outcome is Outcome.PASS  # type: ignore[union-attr]
    assert report.get("headers.content-length").outcome is Outcome.PASS  # type: ignore[union-attr]


def _buffering_on(text: str) -> str:
    return _replace_once(text, "proxy_buffering off;", "proxy_buffering on;")


def _ignore_x_accel(text: str) -> str:
    """What an origin that does not send X-Accel-Buffering: no gets (nginx buffers by default)."""
    return _replace_once(text, "proxy_buffering on;",
                         "proxy_buffering on;\n            proxy_ignore_headers X-Accel-Buffering;")


def _gzip_event_stream(text: str) -> str:
    text = _replace_once(text, "            gzip off;\n", "")
    return _replace_once(text, "gzip_types application/json", "gzip_types text/event-stream application/json")


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
