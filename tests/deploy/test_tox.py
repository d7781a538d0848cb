"""tox.ini: the environments the project promises, each selecting markers that exist, passing {posargs},
and accepted by tox itself."""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

from tests.deploy.files import REPO, TOX_INI

pytestmark = pytest.mark.unit

TIERS = ["unit", "integration", "e2e", "load-smoke", "lint", "type"]
INTERPRETERS = ["py311", "py312", "py313"]


def read_tox() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    assert parser.read(TOX_INI) == [str(TOX_INI)], "tox.ini is missing or unreadable"
    return parser


def commands(tox: configparser.ConfigParser, env: str) -> list[str]:
    section = f"testenv:{env}"
    raw = tox.get(section, "commands") if tox.has_option(section, "commands") else tox.get("testenv", "commands")
    return [line.strip() for line in raw.splitlines() if line.strip()]


def declared_markers() -> set[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return {m.split(":")[0].strip() for m in pyproject["tool"]["pytest"]["ini_options"]["markers"]}


def test_every_promised_environment_exists() -> None:
    tox = read_tox()
    env_list = [e.strip() for e in re.split(r"[,\s]+", tox.get("tox", "env_list")) if e.strip()]
    assert set(INTERPRETERS) <= set(env_list), env_list
    for env in TIERS:
        assert tox.has_section(f"testenv:{env}"), f"tox.ini has no [testenv:{env}]"
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    oldest = min(INTERPRETERS)
    assert requires == f">={oldest[2]}.{oldest[3:]}", f"oldest tox interpreter {oldest} vs requires-python {requires}"


def test_every_test_environment_passes_posargs_and_selects_declared_markers() -> None:
    tox = read_tox()
    markers = declared_markers()
    for env in [*TIERS, *INTERPRETERS]:
        lines = commands(tox, env)
        assert any("{posargs" in line for line in lines), f"{env}: commands ignore {{posargs}}"
        for line in lines:
            argv = shlex.split(line)
            if argv[0] != "pytest" or "-m" not in argv:
                continue
            expression = argv[argv.index("-m") + 1]
            names = set(re.findall(r"[A-Za-z_][\w-]*", expression)) - {"and", "or", "not"}
            assert names, f"{env}: empty marker expression"
            assert names <= markers, f"{env}: markers {sorted(names - markers)} are not declared in pyproject.toml"


def test_tox_itself_accepts_the_file() -> None:
    """``tox config`` parses tox.ini with tox's own rules (substitutions included) without building envs."""
    envs = ",".join([*TIERS, *INTERPRETERS])
    result = subprocess.run([sys.executable, "-m", "tox", "config", "-e", envs, "-k", "commands", "description"],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pytest -m 'unit or asgi'" in result.stdout
    assert "ruff check ." in result.stdout
    for env in [*TIERS, *INTERPRETERS]:
        assert f"[testenv:{env}]" in result.stdout
    assert "# Exception" not in result.stdout, result.stdout  # how tox reports a value it could not compute
