"""pytest plugin: the conformance checks as test cases, for CI pipelines that already speak pytest/JUnit.

    pytest -p conformance.pytest_plugin --pyargs conformance.suite \\
           --sse-url https://api.example.com --sse-token "$TOKEN" --junitxml sse-conformance.xml

The checks run once per session (one ``Report``); each check is then its own test case: a failing check
fails its case with the one-line reason, a skipped check is a skip, a warning passes with the warning
recorded as a JUnit property (``outcome=warn``) so pipelines can surface it without failing.
``--sse-url`` and ``--sse-token`` fall back to ``SSE_CHECK_URL`` and ``SSE_CHECK_TOKEN``.
"""

from __future__ import annotations

import os

import pytest

from conformance.model import Report, select_checks
from conformance.runner import CheckOptions, SetupError, run_sync

__all__ = ["pytest_addoption", "pytest_generate_tests", "sse_report"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sse-conformance", "SSE conformance checks (conformance.suite)")
    group.addoption("--sse-url", default=os.environ.get("SSE_CHECK_URL"), help="base URL to check")
    group.addoption("--sse-token", default=os.environ.get("SSE_CHECK_TOKEN"), help="bearer token")
    group.addoption("--sse-dev-login", default=None, help="log in as USER via /auth/dev-login")
    group.addoption("--sse-other-token", default=None, help="a second user's token (404 across users)")
    group.addoption("--sse-session", default=None, help="existing session id (for --sse-trigger none)")
    group.addoption("--sse-trigger", default="http", choices=("http", "redis", "none"),
                    help="how events are made")
    group.addoption("--sse-redis-url", default=None, help="the target's Redis, for --sse-trigger redis")
    group.addoption("--sse-user", default=None, help="owner of sessions created through Redis")
    group.addoption("--sse-idle-s", type=float, default=5.0, help="idle window in seconds")
    group.addoption("--sse-idle-limit-s", type=float, default=100.0, help="strictest hop's idle timeout")
    group.addoption("--sse-only", action="append", default=None, help="check ids or groups (repeatable)")
    group.addoption("--sse-origin", default=None, help="check CORS with credentials for this Origin")
    group.addoption("--sse-cap-probe", type=int, default=25, help="streams to open for the cap (0: off)")
    group.addoption("--sse-insecure", action="store_true", help="do not verify TLS certificates")


def _options(config: pytest.Config) -> CheckOptions:
    url = config.getoption("--sse-url")
    if not url:
        raise pytest.UsageError("conformance.suite needs --sse-url URL (or SSE_CHECK_URL)")
    return CheckOptions(
        url=url, token=config.getoption("--sse-token"), dev_login=config.getoption("--sse-dev-login"),
        other_token=config.getoption("--sse-other-token"), session=config.getoption("--sse-session"),
        trigger=config.getoption("--sse-trigger"), redis_url=config.getoption("--sse-redis-url"),
        user=config.getoption("--sse-user"), idle_s=config.getoption("--sse-idle-s"),
        idle_limit_s=config.getoption("--sse-idle-limit-s"), only=config.getoption("--sse-only"),
        origin=config.getoption("--sse-origin"), cap_probe=config.getoption("--sse-cap-probe"),
        verify=not config.getoption("--sse-insecure"),
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sse_check_id" in metafunc.fixturenames:
        try:
            ids = select_checks(metafunc.config.getoption("--sse-only"))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        metafunc.parametrize("sse_check_id", ids, ids=ids)


@pytest.fixture(scope="session")
def sse_report(pytestconfig: pytest.Config) -> Report:
    """All selected checks, run once against --sse-url."""
    options = _options(pytestconfig)
    try:
        return run_sync(options)
    except SetupError as exc:
        pytest.fail(f"the conformance run could not start: {exc}", pytrace=False)
