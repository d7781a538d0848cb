"""Fault suite plumbing: raised open-files limit, and the measured figures of every fault test.

Each test records what it measured (recovery time, events lost, memory) with the ``figures`` fixture. At
the end of the run they are written to ``test-results/fault-results.json`` and printed in a "fault figures"
section of the terminal summary (no ``-s`` needed); docs/reliability.md quotes them.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtests.system import raise_fd_limit

RESULTS = Path("test-results") / "fault-results.json"
_FIGURES = pytest.StashKey[dict[str, dict[str, Any]]]()


def _all(config: pytest.Config) -> dict[str, dict[str, Any]]:
    return config.stash.setdefault(_FIGURES, {})


@pytest.fixture(scope="session", autouse=True)
def _open_files_limit() -> None:
    """Every stream is a socket on both ends; API processes started afterwards inherit the limit."""
    raise_fd_limit()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A dict the test fills with its measured figures (kept even when the test fails: say so)."""
    measured: dict[str, Any] = {}
    yield measured
    if measured:
        report = getattr(request.node, "rep_call", None)
        measured["outcome"] = report.outcome if report is not None else "unknown"
        _all(request.config)[request.node.name] = measured


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if call.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    measured = config.stash.get(_FIGURES, None)
    if not measured:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": platform.platform(),
                "cpus": _cpus(), "tests": measured}
    RESULTS.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    terminalreporter.section("fault figures")
    for name, values in sorted(measured.items()):
        shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
        terminalreporter.write_line(f"{name}: {shown}")
    terminalreporter.write_line(f"(written to {RESULTS})")


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def _short(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)
