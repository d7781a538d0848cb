"""`sse-harness load` never passes a run that measured nothing or measured wrong (issue 11, item 1).

Each target breaks exactly one thing; the run must fail and say what it saw. A correct target passing is
proved by the smoke runs in test_smoke_load.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.load.fake_target import STEPS, serve

pytestmark = pytest.mark.load

RUN = ["--users", "3", "--spawn-rate", "3", "--run-time", "6s", "--jobs-per-user", "1", "--progress-s", "1"]


def load(host: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sse_harness.cli", "load", "--host", host, *RUN, "--json",
                           str(out), *args], capture_output=True, text=True, timeout=60, check=False)


def test_a_server_sending_event_message_is_nothing_measured_and_its_events_are_counted_by_type(
        tmp_path: Path) -> None:
    with serve("message", delay_s=0.05) as target:
        done = load(target.url, tmp_path / "s.json", "--slo", "gaps=0", "--slo", "error_rate=0.001")
    assert done.returncode == 1, done.stderr[-2000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["events_received"] == 0 and summary["errors"] == 0  # what used to pass
    # Every event, by type (the users reconnect, as a browser would, since no stream ended with a status).
    assert summary["events_by_type"]["message"] >= 3 * (STEPS + 1)
    assert summary["nothing_measured"].startswith("no status event arrived on")
    assert "nothing measured: no status event arrived" in done.stderr
    assert {name: r["reason"] for name, r in summary["slo"].items()} == {"gaps": "no samples",
                                                                         "error_rate": ""}
    assert f"message={summary['events_by_type']['message']}" in done.stdout  # the table reports them


def test_statuses_without_timestamp_have_unknown_latency_not_zero(tmp_path: Path) -> None:
    """The server delays every event by 300 ms and sends no ``timestamp``: the latency is unknown (null,
    n/a, the latency SLO fails "no samples"), never the 0 ms of a timestamp filled in at parse time."""
    with serve("no-timestamp", delay_s=0.3) as target:
        done = load(target.url, tmp_path / "s.json", "--slo", "p99_latency_ms=1000", "--slo", "gaps=0")
        bodies = target.transcribe_bodies
    assert done.returncode == 1, done.stderr[-2000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["events_received"] == 3 * (STEPS + 1) and summary["latency_unknown"] == 3 * (STEPS + 1)
    assert summary["latency_ms"] == {"p50": None, "p95": None, "p99": None, "max": None, "count": 0}
    assert summary["slo"]["p99_latency_ms"] == {"limit": 1000.0, "value": None, "pass": False,
                                                "direction": "max", "samples": 0, "reason": "no samples"}
    assert summary["slo"]["gaps"]["pass"] is True  # the ids themselves were fine
    assert "n/a / n/a / n/a / n/a" in done.stdout
    # Only what was set goes to POST .../transcribe: the scenario's three fields, no default ``speed``.
    assert bodies and all(body == {"profile": "steady", "steps": 10, "interval_ms": 200} for body in bodies)
    # Progress lines, plain (stderr is not a terminal): the jobs take 1.5 s, --progress-s is 1.
    progress = [line for line in done.stderr.splitlines() if line.startswith("progress ")]
    assert progress, done.stderr[-2000:]
    assert progress[0].startswith("progress 1s: users 3, streams open ")
    assert "\r" not in done.stderr
    assert progress[-1].endswith("errors 0, p99 n/a")


def test_on_a_terminal_the_progress_line_is_redrawn_in_place(tmp_path: Path) -> None:
    """stderr on a pseudo-terminal: the progress line is rewritten with a carriage return, not appended."""
    import os
    import pty

    with serve("no-timestamp", delay_s=0.5) as target:
        leader, follower = pty.openpty()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "sse_harness.cli", "load", "--host", target.url, *RUN, "--json",
                 str(tmp_path / "s.json")], stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL)
            os.close(follower)
            chunks: list[bytes] = []
            while True:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            assert process.wait(60) == 0  # no SLO asked; the events were counted
        finally:
            os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "\r\x1b[Kprogress 1s: users 3" in text
    assert "\nprogress " not in text  # never a plain line on a terminal
    assert not re.search(r"p99 [^\r\n]*\[20\d\d-", text)  # Locust's log lines start on a line of their own
