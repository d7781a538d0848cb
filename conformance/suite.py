"""The conformance checks as pytest test cases; collected with ``--pyargs conformance.suite`` and the
plugin ``-p conformance.pytest_plugin`` (see that module)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from conformance.model import Outcome, Report


def test_check(sse_report: Report, sse_check_id: str, record_property: Callable[[str, object], None]) -> None:
    result = sse_report.get(sse_check_id)
    assert result is not None, f"{sse_check_id} was not run"
    record_property("outcome", result.outcome.value)
    record_property("message", result.message)
    if result.metric is not None:
        record_property("metric", f"{result.metric:g} {result.metric_unit or ''}".strip())
    record_property("evidence", json.dumps(result.evidence, default=str))
    print(f"{result.outcome.value.upper()} {result.id}: {result.message}")
    if result.outcome is Outcome.FAIL:
        pytest.fail(f"{result.id}: {result.message}", pytrace=False)
    if result.outcome is Outcome.SKIP:
        pytest.skip(result.message)
