"""Conformance checks for SSE streams, usable three ways:

* command line: ``sse-harness check URL`` — ``--profile contract`` (this project's API, docs/contract.md)
  or ``--profile sse`` (any SSE stream URL); ``--compare URL2`` for CDN vs origin;
* library::

      from conformance import CheckOptions, run_sync
      report = run_sync(CheckOptions("https://api.example.com", token="..."))
      assert report.ok, report.summary()

* pytest (JUnit XML for CI)::

      pytest -p conformance.pytest_plugin --pyargs conformance.suite \\
             --sse-url https://api.example.com --sse-token "$TOKEN" --junitxml sse.xml
"""

from conformance.catalog import CHECKS, Check, select_checks
from conformance.model import CheckResult, Outcome, Report
from conformance.options import CheckOptions, SetupError
from conformance.runner import run, run_sync

__all__ = ["CHECKS", "Check", "CheckOptions", "CheckResult", "Outcome", "Report", "SetupError", "run", "run_sync",
           "select_checks"]
