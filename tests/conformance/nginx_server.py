"""A real nginx for the tests: docs/deploy/nginx.conf rendered onto free ports (only the marked listen and
upstream lines and the file locations change), started as a child of the test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from reference_app.embedded_redis import free_port
from reference_app.launcher import wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONF = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "nginx.conf"


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"docs/deploy/nginx.conf changed: expected one {old!r}"
    return text.replace(old, new)


def render(text: str, prefix: Path, port: int, upstream: str, tls: tuple[Path, Path] | None = None) -> str:
    """The documented file with only the marked listen/upstream lines (and file locations) changed."""
    text = re.sub(r"server 127\.0\.0\.1:8000;", f"server {upstream};", text, count=1)
    listen = f"listen 127.0.0.1:{port}"
    if tls is not None:
        listen += f" ssl http2;\n        ssl_certificate {tls[0]};\n        ssl_certificate_key {tls[1]}"
    text = replace_once(text, "listen 8080;", listen + ";")
    tmp = prefix / "tmp"
    paths = "".join(f"    {name}_temp_path {tmp / name};\n" for name in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    text = replace_once(text, "http {\n", "http {\n" + paths + "    access_log off;\n")
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
