"""pytest plugin: the conformance checks as test cases, for CI pipelines that already speak pytest/JUnit.

    pytest -p conformance.pytest_plugin --pyargs conformance.suite \\
           --sse-url https://api.example.com --sse-token "$TOKEN" --junitxml sse-conformance.xml

The checks run once per session (one ``Report``); each check is then its own test case: a failing check
fails its case with the one-line reason, a skipped check is a skip, a warning passes with the warning
recorded as a JUnit property (``outcome=warn``) so pipelines can surface it without failing. A run that
checked nothing fails the session (as the command line exits 2).

Every option of ``sse-harness check`` exists here with an ``--sse-`` prefix (``--sse-dev-login``,
``--sse-steps``, ``--sse-no-http2``, ...): both are generated from ``conformance.options.CheckOptions``.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.catalog import select_checks
from conformance.model import Report
from conformance.options import CheckOptions, OptionRow, SetupError, env_default, option_rows
from conformance.runner import run_sync

__all__ = ["pytest_addoption", "pytest_generate_tests", "sse_report"]


def _flag(row: OptionRow) -> str:
    if row.argument:
        return "--sse-url"
    if row.type is bool and row.default is True:
        return "--sse-no-" + row.flag.removeprefix("--")
    return "--sse-" + row.flag.removeprefix("--")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sse-conformance", "SSE conformance checks (conformance.suite)")
    for row in option_rows():
        kwargs: dict[str, Any] = {"dest": f"sse_{row.name}", "help": row.help}
        if row.argument:
            kwargs.update(default=env_default(row) or None)
            kwargs["help"] += " (or SSE_CHECK_URL)"
            group.addoption(_flag(row), **kwargs)
            continue
        if row.type is bool:
            kwargs["action"] = "store_false" if row.default else "store_true"
        elif row.repeatable:
            kwargs.update(action="append", default=None)
        else:
            kwargs.update(type=row.type, default=env_default(row))
            if row.choices:
                kwargs["choices"] = row.choices
        group.addoption(_flag(row), **kwargs)


def _options(config: pytest.Config) -> CheckOptions:
    import os

    values: dict[str, Any] = {}
    for row in option_rows():
        value = config.getoption(f"sse_{row.name}")
        if row.repeatable and value is None:
            value = []
        values[row.name] = value
    values["url"] = values["url"] or os.environ.get("SSE_CHECK_URL")
    if not values["url"]:
        raise pytest.UsageError("conformance.suite needs --sse-url URL (or SSE_CHECK_URL)")
    return CheckOptions(**values)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sse_check_id" in metafunc.fixturenames:
        try:
            options = _options(metafunc.config)
            ids = select_checks(metafunc.config.getoption("sse_only"), options.resolved_profile())
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        metafunc.parametrize("sse_check_id", ids, ids=ids)


@pytest.fixture(scope="session")
def sse_report(pytestconfig: pytest.Config) -> Report:
    """All selected checks, run once against --sse-url."""
    options = _options(pytestconfig)
    try:
        report = run_sync(options)
    except SetupError as exc:
        pytest.fail(f"the conformance run could not start: {exc}", pytrace=False)
    if not report.checked:
        pytest.fail(report.nothing_checked(), pytrace=False)
    return report
