"""Short real loads: Locust (real gevent sockets) against the real API, Redis and, for jobs, the
simulator publishing through Redis — the same path ``sse-harness simulate`` uses.

Kept short for ``make test``: the smoke run is the issue's "200 streams for 15 s"; the other two prove
the distributed aggregation (custom messages) and the resume guarantee across an API restart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtests.options import LoadOptions
from loadtests.runner import LoadRequest, run_load
from reference_app.launcher import ApiProcess, wait_until

pytestmark = pytest.mark.load


def test_smoke_200_streams_every_job_followed_to_its_end_without_a_gap(
    api: ApiProcess, redis_url: str, tmp_path: Path
) -> None:
    """Through the real CLI: 200 users each follow one 5 s job (20 updates) to its terminal status."""
    out = tmp_path / "smoke.json"
    completed = subprocess.run(
        [sys.executable, "-m", "sse_harness.cli", "load", "--host", api.url, "--scenario", "steady",
         "--users", "200", "--spawn-rate", "100", "--run-time", "15s", "--source", "redis",
         "--redis-url", redis_url, "--steps", "20", "--interval-ms", "250", "--jobs-per-user", "1",
         "--slo", "gaps=0", "--slo", "duplicates=0", "--slo", "unfinished=0",
         "--slo", "watches_terminal=200", "--slo", "streams_peak=200", "--json", str(out),
         "--html", str(tmp_path / "smoke.html"), "--progress-s", "2"],
        capture_output=True, text=True, timeout=90, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["streams_peak"] >= 200
    assert summary["gaps"] == 0 and summary["duplicates"] == 0 and summary["out_of_order"] == 0
    watches = summary["watches"]
    assert watches["started"] == watches["terminal"] == 200
    assert watches["by_status"] == {"completed": 200}
    assert watches["open_at_stop"] == 0
    # Each job publishes 22 statuses after the session's "pending"; every one arrived.
    assert summary["events_received"] >= 200 * 22
    assert summary["latency_ms"]["count"] >= 200 * 21
    assert summary["latency_ms"]["p99"] is not None
    assert summary["errors"] == 0
    assert summary["generator"]["processes"] == 1 and summary["generator"]["rss_peak_mb"] > 0
    assert summary["server"]["cpu_s"] > 0  # scraped from the API's /metrics before and after
    assert all(result["pass"] for result in summary["slo"].values())
    assert "SLO gate" in completed.stdout  # the table goes to stdout; progress and logs to stderr
    progress = [line for line in completed.stderr.splitlines() if line.startswith("progress ")]
    assert progress and "users 200" in progress[-1], completed.stderr[-2000:]
    # The timeline of the report: sampled every second, its last point is the summary's own totals.
    timeline = summary["timeline"]
    assert len(timeline) >= 3 and timeline[-1]["events"] == summary["events_received"]
    assert max(point["streams_open"] for point in timeline) > 0
    html = (tmp_path / "smoke.html").read_text()
    assert 'data-testid="plot-streams" viewBox' in html and f'data-points="{len(timeline)}"' in html
    assert "<script src" not in html and "<link" not in html  # one self-contained file


def test_distributed_run_aggregates_worker_counters_and_a_failed_slo_exits_1(
    api: ApiProcess, redis_url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Two Locust worker processes, the FastHttpSession transport, and an SLO that cannot pass. The master
    prints progress from the workers' reports."""
    code, summary = run_load(LoadRequest(
        host=api.url, scenario="steady", users=40, spawn_rate=40, run_time="8s", processes=2,
        slo=["gaps=0", "watches_terminal=40", "events_received=1000000"], json_file=tmp_path / "dist.json",
        options=LoadOptions(source="redis", redis_url=redis_url, transport="fasthttp", steps=10, interval_ms=200,
                            jobs_per_user=1, progress_s=1.0),
    ), timeout_s=90)
    assert code == 1
    assert summary is not None
    assert summary["workers"] == 2
    assert summary["generator"]["processes"] == 2  # each worker's own cost, from its final report
    assert summary["transport"] == "fasthttp"
    assert summary["watches"]["terminal"] == summary["streams_opened"] == 40
    assert summary["gaps"] == 0
    assert {name: r["pass"] for name, r in summary["slo"].items()} == {
        "gaps": True, "watches_terminal": True, "events_received": False}
    assert json.loads((tmp_path / "dist.json").read_text())["workers"] == 2
    progress = [line for line in capfd.readouterr().err.splitlines() if line.startswith("progress ")]
    assert any("users 40, streams open " in line for line in progress), progress
    assert summary["timeline"][-1]["events"] == summary["events_received"]


def _active_streams(url: str) -> float:
    try:
        text = httpx.get(f"{url}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1
    return next((float(line.split()[1]) for line in text.splitlines()
                 if line.startswith("sse_active_streams ")), -1)


def test_reconnect_storm_survives_an_api_restart_without_gaps_or_duplicates(
    start_api: Callable[..., ApiProcess], redis_url: str
) -> None:
    """Every stream is cut at once by an API restart (plus client-side cuts); all must resume with
    Last-Event-ID and see every status exactly once."""
    api = start_api(SSE_HEARTBEAT_S="1", SSE_SHUTDOWN_GRACE_S="1")
    result: dict[str, Any] = {}

    def load() -> None:
        result["out"] = run_load(LoadRequest(
            host=api.url, scenario="reconnect-storm", users=30, spawn_rate=30, run_time="16s",
            slo=["gaps=0", "duplicates=0", "watches_terminal=30"],
            options=LoadOptions(source="redis", redis_url=redis_url, steps=40, interval_ms=250, jobs_per_user=1,
                                cut_every_s=4.0, reconnect_delay_ms=200),
        ), timeout_s=90)

    runner = threading.Thread(target=load)
    runner.start()
    try:
        wait_until(lambda: _active_streams(api.url) >= 30, 30, 0.2, "30 open streams")
        api.restart()
    finally:
        runner.join(120)
    code, summary = result["out"]
    assert summary is not None
    assert summary["watches"]["terminal"] == 30
    assert summary["gaps"] == 0 and summary["duplicates"] == 0 and summary["out_of_order"] == 0
    assert summary["reconnects"] >= 30  # the restart cut every stream at least once
    assert summary["reconnect_ms"]["count"] == summary["reconnects"]
    assert code == 0


def test_fanout_viewers_all_watch_the_same_job_and_polling_sees_its_jobs_finish(
    start_api: Callable[..., ApiProcess], redis_url: str
) -> None:
    """fanout: 20 viewers of one session get every status of the one job; polling: ETag polls follow
    each user's job to its end (and 304 while nothing changed)."""
    api = start_api(SSE_MAX_STREAMS_PER_USER="100")
    code, fanout = run_load(LoadRequest(
        host=api.url, scenario="fanout", users=20, spawn_rate=20, run_time="20s", slo=["gaps=0", "errors=0"],
        options=LoadOptions(source="redis", redis_url=redis_url, steps=5, interval_ms=200, jobs_per_user=1),
    ), timeout_s=60)
    assert fanout is not None and code == 0
    assert fanout["watches"]["terminal"] == 20 and fanout["streams_peak"] == 20
    # One job: pending snapshot + 7 statuses, the same for every viewer (they connected before it started).
    assert fanout["events_received"] == 20 * 8

    code, polling = run_load(LoadRequest(
        host=api.url, scenario="polling", users=10, spawn_rate=10, run_time="20s", slo=["errors=0"],
        options=LoadOptions(source="redis", redis_url=redis_url, steps=2, interval_ms=1200, poll_interval_ms=300,
                            jobs_per_user=1),
    ), timeout_s=60)
    assert polling is not None and code == 0
    assert polling["watches"]["terminal"] == 10 and polling["watches"]["by_status"] == {"completed": 10}
    assert polling["streams_opened"] == 0  # polling only
    assert polling["polling"]["not_modified"] > 0  # 0.3 s polls of 1.2 s steps: most see no change
    assert polling["polling"]["change_ms"]["count"] >= 10
