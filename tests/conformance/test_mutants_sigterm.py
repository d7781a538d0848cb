"""The mutation suite for contract point 8 (SIGTERM): the contract app in a process of its own
(tests/conformance/contract_server.py), ``--shutdown-cmd "kill -TERM <pid>"``, a full default run each.
Same assertions as test_mutants.py: exit 1, the check that names the problem fails with its words, nothing
else fails; the clean app passes every check (and its process has exited)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from conformance import CheckOptions, Outcome, Report, run_sync
from tests.conformance.contract_app import Flaws
from tests.conformance.contract_server import ContractServer
from tests.conformance.helpers import OPT_IN_CHECKS
from tests.conformance.test_mutants import OPTIONS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

GRACE_S = 1.5
_users = itertools.count()

MUTANTS: dict[str, tuple[Flaws, str]] = {
    "streams-outlive-sigterm": (Flaws(ignore_sigterm=True), "stream still open 2.5 s after SIGTERM (grace 1.5 s)"),
    "streams-cut-on-sigterm": (Flaws(sigterm_cuts=True), "the stream was cut (reset), not ended"),
    "streams-accepted-during-shutdown": (Flaws(shutdown_accepts_streams=True),
                                         "a stream was accepted (200) during shutdown"),
    "never-exits-after-sigterm": (Flaws(shutdown_never_exits=True),
                                  "still answering (503) 2.5 s after SIGTERM (grace 1.5 s)"),
}


def check(server: ContractServer) -> Report:
    return run_sync(CheckOptions(server.url, dev_login=f"sig{next(_users)}", shutdown_cmd=f"kill -TERM {server.pid}",
                                 shutdown_grace_s=GRACE_S, **OPTIONS))


def outcomes(report: Report) -> dict[str, Any]:
    return {r.id: r.outcome.value for r in report.results}


def test_the_clean_app_ends_its_streams_on_sigterm() -> None:
    with ContractServer(Flaws()) as server:
        report = check(server)
        assert server.process is not None and server.process.wait(5) is not None, "the process exited"
    result = outcomes(report)
    assert report.exit_code == 0, report.summary()
    for skipped in ("headers.connection-h2", "cors.credentials", *(OPT_IN_CHECKS - {"shutdown.sigterm"})):
        assert result.pop(skipped) == "skip", skipped
    assert set(result.values()) == {"pass"}, result
    sigterm = report.get("shutdown.sigterm")
    assert sigterm is not None and "503 shutting_down" in sigterm.message, sigterm.message
    assert sigterm.metric is not None and sigterm.metric < GRACE_S


@pytest.mark.parametrize("name", list(MUTANTS))
def test_each_sigterm_mutant_fails_shutdown_sigterm(name: str) -> None:
    flaws, words = MUTANTS[name]
    with ContractServer(flaws) as server:
        report = check(server)
    failed = {r.id: r.message for r in report.results if r.outcome is Outcome.FAIL}
    assert report.exit_code == 1, report.summary()
    assert set(failed) == {"shutdown.sigterm"}, failed
    assert words in failed["shutdown.sigterm"], failed


def test_a_failing_shutdown_cmd_is_a_setup_error() -> None:
    from conformance import SetupError

    with ContractServer(Flaws()) as server, pytest.raises(SetupError, match=r"^--shutdown-cmd 'exit 3' exited 3"):
        run_sync(CheckOptions(server.url, dev_login="sig-fail", shutdown_cmd="exit 3", only=["shutdown"]))
