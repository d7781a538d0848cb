"""docs/deploy/cloudflare-worker.js under Node, in front of the real API: the corrected pass-through passes
the checker; the two usual mistakes (spreading ``request.headers``, reading the body) fail the checks
that name them. ``workers/host.mjs`` routes like Cloudflare: the worker's ``fetch(request)`` reaches the
origin."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conformance import CheckOptions, Outcome, Report, SetupError, run_sync
from reference_app.api_client import login, new_session
from reference_app.launcher import ApiProcess, wait_until

HERE = Path(__file__).resolve().parent
WORKER = HERE.parents[1] / "docs" / "deploy" / "cloudflare-worker.js"
NODE = shutil.which("node")


def _node_major() -> int:
    if NODE is None:
        return 0
    out = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=10).stdout
    return int(out.strip().lstrip("v").split(".")[0] or 0)


pytestmark = [
    pytest.mark.integration, pytest.mark.timeout(90),
    pytest.mark.skipif(_node_major() < 18, reason="needs Node >= 18 (global fetch, Request, Response)"),
]

FAST = {"steps": 5, "interval_ms": 200, "idle_s": 2.0, "idle_limit_s": 5.0, "expect_cap": 0}


@pytest.fixture
def worker(api: ApiProcess, tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(script: Path) -> str:
        log = tmp_path / f"{script.stem}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([str(NODE), str(HERE / "workers" / "host.mjs"), str(script), api.url],
                                       stdout=out, stderr=subprocess.STDOUT)
        processes.append(process)

        def listening() -> str | None:
            if process.poll() is not None:
                raise RuntimeError(f"worker host exited: {log.read_text()}")
            match = re.search(r"Listening: (http://\S+)", log.read_text())
            return match.group(1) if match else None

        return str(wait_until(listening, 15, 0.05, "the worker host to listen"))

    yield start
    for process in processes:
        process.terminate()
        process.wait(10)


def failed(report: Report) -> dict[str, str]:
    return {r.id: r.message for r in report.results if r.outcome is Outcome.FAIL}


def test_documented_worker_passes(worker: Callable[[Path], str]) -> None:
    report = run_sync(CheckOptions(worker(WORKER), dev_login=f"cf-{secrets.token_hex(3)}", **FAST))  # type: ignore[arg-type]
    assert report.ok, report.summary()
    for check_id in ("stream.not-buffered", "resume.header", "resume.query", "resume.after-end-204",
                     "idle.survival", "auth.cross-user"):
        assert report.get(check_id).outcome is Outcome.PASS, report.get(check_id)  # type: ignore[union-attr]


def test_spreading_request_headers_drops_the_credentials(api: ApiProcess, worker: Callable[[Path], str]) -> None:
    token = login(api.url, f"cf-{secrets.token_hex(3)}")
    session = new_session(api.url, token)  # on the origin: through this worker nothing authenticates
    report = run_sync(CheckOptions(worker(HERE / "workers" / "spread_headers.js"), token=token, trigger="none",
                                   session=session, only=["stream.open"], idle_s=2.0))
    assert "answered 401" in failed(report)["stream.open"]
    assert "an intermediary may strip Cookie/Authorization" in failed(report)["stream.open"]
    # without Content-Type even the JSON login body is refused: the run stops with a message, no traceback
    with pytest.raises(SetupError, match=r"dev login as 'cf-x' failed: 422"):
        run_sync(CheckOptions(report.url, dev_login="cf-x", idle_s=1.0))


def test_reading_the_body_buffers_the_stream(worker: Callable[[Path], str]) -> None:
    report = run_sync(CheckOptions(worker(HERE / "workers" / "read_body.js"), dev_login=f"cf-{secrets.token_hex(3)}",
                                   only=["stream.not-buffered", "idle.survival"], **FAST))  # type: ignore[arg-type]
    got = failed(report)
    assert "in one burst at the end" in got["stream.not-buffered"]
    assert "sent no response headers within" in got["idle.survival"]
