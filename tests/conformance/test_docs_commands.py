"""docs/conformance.md and docs/cloudflare.md: every ``sse-harness`` command in their shell blocks parses
with the real CLI, every option of ``CheckOptions`` is documented in the options table, and every check of
the catalog in the checks table — a renamed flag or an undocumented check breaks this test."""

from __future__ import annotations

import re

import pytest

from conformance.catalog import CHECKS
from conformance.options import option_rows
from tests.deploy.entrypoints import check_sse_harness
from tests.deploy.files import REPO
from tests.deploy.test_docs import expand, shell_commands

pytestmark = pytest.mark.unit

DOCS = [REPO / "docs" / "conformance.md", REPO / "docs" / "cloudflare.md"]
CONFORMANCE = (REPO / "docs" / "conformance.md").read_text()
COMMANDS = [(f"{doc.name}: {command[:60]}", expand(command.replace("$KEY", "k").replace("$SESSION", "s")
                                                   .replace("$T", "t")))
            for doc in DOCS for command in shell_commands(doc) if command.startswith("sse-harness")]


def test_the_docs_show_both_profiles() -> None:
    checks = [argv for _, argv in COMMANDS if argv[1] == "check"]
    assert any("/v1/jobs/42/progress" in " ".join(argv) for argv in checks)
    assert any("--trigger-cmd" in argv for argv in checks) and any("--header" in argv for argv in checks)
    assert any("--compare" in argv for argv in checks)


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_every_documented_command_parses(where: str, argv: list[str]) -> None:
    check_sse_harness(argv)


def test_every_option_and_check_is_documented() -> None:
    for row in option_rows():
        if not row.argument:
            flag = row.flag if row.type is not bool or not row.default else "--no-" + row.flag.removeprefix("--")
            assert f"`{flag}" in CONFORMANCE, f"{flag} is not in docs/conformance.md"
    for check in CHECKS:
        row = rf"^\| (`[\w.-]+`, )*`{re.escape(check.id)}`"
        assert re.search(row, CONFORMANCE, re.M), f"{check.id} is not in the checks table"
