"""The HTML reports of ``load --html`` and ``bench capacity --html`` in real Chromium: they open from a file
with no network at all, and every plot is drawn from the run's own numbers (points, bars and the plotted
maximum are compared with the JSON the same run wrote).

``REPORT_SCREENSHOT_DIR=docs/img`` also saves full-page screenshots (how docs/img/load-report.png and
bench-report.png were made).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from rich.console import Console

from loadtests.bench import CapacityRequest, run_capacity
from loadtests.options import LoadOptions
from loadtests.runner import LoadRequest, run_load

pytestmark = pytest.mark.e2e


def _open_offline(page: Page, report: Path) -> list[str]:
    """Open ``report`` and return every URL the page asked for (only the file itself is allowed)."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(report.as_uri())
    return [url for url in requested if url != report.as_uri()]


def _plot(page: Page, test_id: str) -> dict[str, Any]:
    """What the browser drew: points of the first polyline, bars, the y-axis maximum label, the box."""
    return page.get_by_test_id(test_id).evaluate("""svg => ({
        points: (svg.querySelector('polyline.series')?.getAttribute('points') || '').trim().split(/\\s+/)
                .filter(Boolean).length,
        bars: svg.querySelectorAll('rect.bar').length,
        tallest: Math.max(0, ...[...svg.querySelectorAll('rect.bar')].map(r => r.height.baseVal.value)),
        ymax: parseFloat(svg.querySelector('text.ymax').textContent.replace(/,/g, '')),
        width: svg.getBoundingClientRect().width, height: svg.getBoundingClientRect().height,
    })""")


def _screenshot(page: Page, name: str) -> None:
    target = os.environ.get("REPORT_SCREENSHOT_DIR")
    if target:
        page.set_viewport_size({"width": 1100, "height": 900})
        page.screenshot(path=str(Path(target) / name), full_page=True)


def test_the_load_report_plots_the_runs_own_numbers(
        page: Page, start_api: Callable[..., Any], redis_url: str, tmp_path: Path) -> None:
    api = start_api(SSE_HEARTBEAT_S="1")
    code, summary = run_load(LoadRequest(
        host=api.url, scenario="reconnect-storm", users=20, spawn_rate=20, run_time="6s",
        slo=["gaps=0", "streams_peak=20"], json_file=tmp_path / "load.json", html_file=tmp_path / "load.html",
        options=LoadOptions(source="redis", redis_url=redis_url, steps=20, interval_ms=200, cut_every_s=2.0,
                            reconnect_delay_ms=100, progress_s=0),
    ), console=Console(stderr=True), timeout_s=60)
    assert code == 0 and summary is not None
    summary = json.loads((tmp_path / "load.json").read_text())
    timeline = summary["timeline"]
    assert len(timeline) >= 4

    assert _open_offline(page, tmp_path / "load.html") == []
    assert page.get_by_test_id("verdict").inner_text() == "every SLO passed"
    assert page.get_by_test_id("slo").locator("tr").count() == 1 + len(summary["slo"])
    streams = _plot(page, "plot-streams")
    assert streams["points"] == len(timeline)
    assert streams["ymax"] == max(max(p["streams_open"], p["users"]) for p in timeline) == 20
    events = _plot(page, "plot-events")
    assert events["points"] == len(timeline)
    assert events["ymax"] == pytest.approx(max(p["events_per_s"] for p in timeline), abs=0.05)
    faults = _plot(page, "plot-faults")
    assert faults["ymax"] == max(p["reconnects"] for p in timeline) > 0
    latency = _plot(page, "plot-latency")
    assert latency["points"] == sum(p["latency_p99_ms"] is not None for p in timeline)
    histogram = summary["latency_histogram_ms"]
    distribution = _plot(page, "plot-latency-distribution")
    assert distribution["bars"] == len(histogram)
    assert distribution["ymax"] == max(count for _, count in histogram)
    assert distribution["tallest"] > 100  # drawn, not an empty frame
    for plot in (streams, events, faults, latency, distribution):
        assert plot["width"] > 300 and plot["height"] > 100
    # Locust's request statistics stay in the report.
    rows = page.get_by_test_id("requests").locator("tr")
    assert rows.count() == 1 + len(summary["requests"]["entries"])
    assert "reconnect" in page.get_by_test_id("requests").inner_text()
    _screenshot(page, "load-report.png")


def test_the_bench_report_plots_the_runs_own_numbers(page: Page, tmp_path: Path) -> None:
    code = run_capacity(CapacityRequest(streams=200, sessions=2, sustain_rate=10, sustain_s=1.0,
                                        json_file=tmp_path / "bench.json", html_file=tmp_path / "bench.html"),
                        console=Console(stderr=True))
    assert code == 0
    results = json.loads((tmp_path / "bench.json").read_text())

    assert _open_offline(page, tmp_path / "bench.html") == []
    assert "figures only" in page.get_by_test_id("verdict").inner_text()
    for test_id, block in (("plot-connect-distribution", results["connect"]["connect_ms"]),
                           ("plot-burst-distribution", results["burst"]["latency_ms"]),
                           ("plot-sustained-distribution", results["sustained"]["latency_ms"])):
        drawn = _plot(page, test_id)
        assert drawn["bars"] == len(block["histogram"]) > 0, test_id
        assert drawn["ymax"] == max(count for _, count in block["histogram"]), test_id
        assert sum(count for _, count in block["histogram"]) == block["count"]
    rss = _plot(page, "plot-rss")
    samples = results["memory"]["rss_by_streams"]
    assert rss["points"] == len(samples) >= 2
    assert rss["ymax"] == max(s["rss_mb"] for s in samples)
    assert str(results["memory"]["api_rss_per_stream_kb"]) in page.get_by_test_id("figures").inner_text()
    cpu = _plot(page, "plot-cpu")
    assert cpu["bars"] == 2
    assert cpu["ymax"] == pytest.approx(max(results["burst"]["api_cpu_ms_per_delivery"],
                                            results["sustained"]["api_cpu_ms_per_delivery"]), rel=0.01)
    _screenshot(page, "bench-report.png")
