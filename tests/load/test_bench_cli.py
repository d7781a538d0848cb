"""`sse-harness bench capacity` end to end, small: targets are figures unless `--slo` gates; the table
keeps stdout (the JSON goes to its file only); each phase is announced as it starts and ends.

Issue 11: `bench capacity --streams 500` printed "target … missed" for two targets and exited 0, and
printed its whole JSON on stdout although `--json` was given.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.load

SMALL = ["bench", "capacity", "--streams", "60", "--sessions", "2", "--sustain-rate", "10", "--sustain-s", "0.5"]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sse_harness.cli", *SMALL, *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_targets_are_figures_and_only_slo_gates(tmp_path: Path) -> None:
    figures = bench("--json", str(tmp_path / "a.json"))
    assert figures.returncode == 0, figures.stderr[-2000:]
    results = json.loads((tmp_path / "a.json").read_text())
    assert results["connect"]["streams"] == 60 and results["finish"]["terminal"] == 60
    assert "missed" not in figures.stdout and ">= 10,000 (streams)" in figures.stdout  # a figure, no verdict
    assert not figures.stdout.lstrip().startswith("{") and '"machine"' not in figures.stdout
    assert "SLO gate" not in figures.stdout
    phases = [line for line in figures.stderr.splitlines() if line.startswith("phase ")]
    names = ("connect", "memory", "redis_connections", "burst", "sustained", "finish")
    assert [line.split(":")[0] for line in phases] == [f"phase {n}" for n in names for _ in (0, 1)]
    assert all(": ended in " in line for line in phases[1::2])

    gated = bench("--slo", "streams=100000", "--slo", "burst_lost=0", "--slo", "storm_gaps=0",
                  "--json", str(tmp_path / "b.json"))
    assert gated.returncode == 1, gated.stderr[-2000:]
    slo = json.loads((tmp_path / "b.json").read_text())["slo"]
    assert {name: r["pass"] for name, r in slo.items()} == {"streams": False, "burst_lost": True, "storm_gaps": False}
    assert slo["storm_gaps"]["reason"] == "no samples"  # no --storm: that phase did not run
    assert "SLO gate" in gated.stdout and "SLO failed: streams" in gated.stderr


def test_the_storm_phase_resumes_every_stream_and_gates_on_it(tmp_path: Path) -> None:
    """``--storm`` cuts every stream at once (a deploy) and resumes each with its Last-Event-ID: all come
    back, nothing is lost or repeated, and the storm gates judge those figures (resumed viewers, not
    viewers)."""
    run = bench("--storm", "--slo", "storm_gaps=0", "--slo", "storm_duplicates=0", "--slo", "storm_lost=0",
                "--json", str(tmp_path / "s.json"))
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((tmp_path / "s.json").read_text())
    storm = results["storm"]
    assert storm["viewers"] == 60 and storm["resumed"] == 60, storm
    assert (storm["gaps"], storm["duplicates"], storm["lost"]) == (0, 0, 0), storm
    assert storm["published_during_phase"] > 0 and storm["api_cpu_ms_per_reconnect"] is not None, storm
    assert {name: r["pass"] for name, r in results["slo"].items()} == {
        "storm_gaps": True, "storm_duplicates": True, "storm_lost": True}
    assert results["finish"]["terminal"] == 60
    assert any(line.startswith("phase storm: ended in ") and "60 of 60 resumed" in line
               for line in run.stderr.splitlines()), run.stderr[-2000:]
