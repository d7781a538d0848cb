"""The HTML reports render any summary, also one that measured nothing, and never reach the network."""

from __future__ import annotations

import re

import pytest

from loadtests.report import render_bench_report, render_load_report
from loadtests.slo import parse_slos
from loadtests.summary import build_summary

pytestmark = pytest.mark.unit


def test_a_run_that_measured_nothing_says_so_and_its_plots_are_empty_not_zero() -> None:
    summary = build_summary(meta={"scenario": "steady", "host": "http://x"}, entries=[],
                            counters={"errors": {"connect_refused": 3}}, streams_peak=0, duration_s=1.0,
                            slos=parse_slos(["p99_latency_ms=500"]))
    html = render_load_report(summary)
    assert "NOTHING MEASURED: no stream opened and no poll answered (errors: connect_refused=3)" in html
    assert html.count('data-points="0"') == 5  # four timeline plots and the distribution: "no samples"
    assert "no samples" in html and "n/a / n/a / n/a / n/a ms" in html
    assert not re.search(r"""(src|href)=["']?https?:""", html)


def test_the_report_escapes_what_the_run_reports() -> None:
    summary = build_summary(meta={"scenario": "<b>x</b>", "host": "http://h"}, entries=[],
                            counters={"errors": {"<script>": 1}}, streams_peak=0, duration_s=1.0)
    html = render_load_report(summary)
    assert "<b>x</b>" not in html.split('<script type="application/json"')[0]
    assert "&lt;script&gt;=1" in html


def test_a_bench_that_opened_no_stream_renders() -> None:
    results = {"streams_requested": 10, "sessions": 1, "transport": "raw", "command": "bench",
               "machine": {"cpu": "c", "cores": 2, "memory_gb": 1, "python": "3"},
               "connect": {"streams": 0, "failed": 10, "connect_ms": {"p50": None, "count": 0, "histogram": []}},
               "nothing_measured": "no stream opened", "slo": {}}
    html = render_bench_report(results)
    assert "NOTHING MEASURED: no stream opened" in html
    assert 'data-testid="plot-connect-distribution" data-points="0"' in html
