"""Conformance checks for SSE status streams (docs/contract.md), usable three ways:

* command line: ``sse-harness check URL --dev-login alice`` (``--compare URL2`` for CDN vs origin);
* library::

      from conformance import CheckOptions, run_sync
      report = run_sync(CheckOptions("https://api.example.com", token="..."))
      assert report.ok, report.summary()

* pytest (JUnit XML for CI)::

      pytest -p conformance.pytest_plugin --pyargs conformance.suite \\
             --sse-url https://api.example.com --sse-token "$TOKEN" --junitxml sse.xml
"""

from conformance.model import CHECKS, CheckResult, Outcome, Report, select_checks
from conformance.runner import CheckOptions, SetupError, run, run_sync

__all__ = ["CHECKS", "CheckOptions", "CheckResult", "Outcome", "Report", "SetupError", "run", "run_sync",
           "select_checks"]
