"""The runbooks and the Render guide: every ``sse-harness`` command in their shell blocks parses with the
real CLI (options, types, SLO names, scenarios), the documented token one-liner works, and every relative
link points at a file that exists. A renamed flag breaks this test instead of a capacity test before a
deploy."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.options import SCENARIOS
from loadtests.slo import parse_slos
from reference_app.auth import decode_token
from tests.deploy.entrypoints import check_sse_harness
from tests.deploy.files import REPO

pytestmark = pytest.mark.unit

DOCS = [REPO / "docs" / "runbooks" / "capacity-test.md", REPO / "docs" / "runbooks" / "validate-cloudflare.md",
        REPO / "docs" / "deploy" / "render.md"]
#: Values for the shell variables the runbooks set before their commands.
VARIABLES = {"URL": "http://127.0.0.1:8000", "REDIS": "redis://127.0.0.1:6379/0", "USERS": "100",
             "CDN": "https://status.example.com", "ORIGIN": "https://api.example.onrender.com",
             "TOKEN": "a-token"}


def shell_commands(path: Path) -> list[str]:
    """Commands of the ```bash blocks: continuations joined, comments and variable assignments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#") and not re.match(r"^[A-Z_]+=\S*$", line):
                commands.append(line)
    return commands


def expand(command: str) -> list[str]:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in VARIABLES, f"{command}: ${name} is never set in the runbook"
        return VARIABLES[name]

    return shlex.split(re.sub(r"\$\{(\w+)\}|\$(\w+)", value, command))


def sse_harness_commands() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        for command in shell_commands(doc):
            argv = expand(command)
            if argv[0] == "sse-harness":
                found.append((f"{doc.name}: {command[:60]}", argv))
    return found


COMMANDS = sse_harness_commands()


def test_the_runbooks_use_the_commands_they_are_about() -> None:
    used = {argv[1] for _, argv in COMMANDS}
    assert {"demo", "check", "load", "proxy", "bench"} <= used, used


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_every_command_parses_with_the_real_cli(where: str, argv: list[str]) -> None:
    check_sse_harness(argv)
    if argv[1] == "load":
        slos = [argv[i + 1] for i, a in enumerate(argv) if a == "--slo"]
        parse_slos(slos)  # raises naming an unknown SLO
        if "--scenario" in argv:
            assert argv[argv.index("--scenario") + 1] in SCENARIOS, where


def test_the_documented_token_command_mints_a_valid_token() -> None:
    text = (REPO / "docs" / "runbooks" / "validate-cloudflare.md").read_text()
    match = re.search(r'python -c "([^"]+)"', text)
    assert match, "the token one-liner is gone from validate-cloudflare.md"
    secret = "s" * 44
    code = match.group(1).replace("<AUTH_SECRET>", secret)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert decode_token(result.stdout.strip(), secret) == "checker"


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_relative_links_resolve(doc: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
        if "://" in target:
            continue
        assert (doc.parent / target).resolve().exists(), f"{doc.name}: broken link {target}"
