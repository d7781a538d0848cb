"""The Dockerfile: multi-stage, slim, non-root, and it puts into the image everything the services run.

No Docker engine here: the instructions are read and checked against the repo and pyproject.toml."""

from __future__ import annotations

import fnmatch
import json
import shlex
import tomllib

import pytest

from tests.deploy.entrypoints import check_entry_point
from tests.deploy.files import REPO, copy_sources, dockerfile_stages, dockerignore_allowlist

pytestmark = pytest.mark.unit

STAGES = dockerfile_stages()
BUILD, RUNTIME = STAGES[0], STAGES[-1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PACKAGES = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]


def test_two_stages_on_the_same_slim_python() -> None:
    assert len(STAGES) >= 2, "a build stage with compilers and a lean runtime stage"
    assert RUNTIME.base.startswith("python:") and RUNTIME.base.endswith("-slim"), RUNTIME.base
    assert BUILD.base == RUNTIME.base, "the virtualenv must run on the Python it was built with"
    version = RUNTIME.base.removeprefix("python:").removesuffix("-slim")
    requires = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, version.split("."))) >= tuple(map(int, requires.split("."))), version
    assert not any("build-essential" in run for run in RUNTIME.all("RUN")), "no compilers in the runtime image"


def test_runtime_runs_as_a_non_root_user_it_creates() -> None:
    users = RUNTIME.all("USER")
    assert users, "the runtime stage never drops root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert any("useradd" in run and user in run.split() for run in RUNTIME.all("RUN")), f"{user} is never created"
    # USER comes after every COPY/RUN that needs root, and before the command.
    order = [kw for kw, _ in RUNTIME.instructions]
    assert order.index("USER") > max(i for i, kw in enumerate(order) if kw in ("RUN", "COPY"))


def test_runtime_gets_the_built_virtualenv_and_uses_it() -> None:
    copies = [copy_sources(args) for args in RUNTIME.all("COPY")]
    assert any(flags.get("from") == BUILD.name and dest == "/opt/venv" for _, dest, flags in copies)
    assert any("PATH=/opt/venv/bin:" in env for env in RUNTIME.all("ENV"))


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    allowed = dockerignore_allowlist()
    for stage in STAGES:
        for args in stage.all("COPY"):
            sources, _, flags = copy_sources(args)
            if "from" in flags:
                continue
            for src in sources:
                optional = any(c in src for c in "*?[")
                matches = list(REPO.glob(src)) if optional else [REPO / src]
                assert optional or matches[0].exists(), f"COPY {src}: no such file in the repo"
                for path in matches:
                    rel = path.relative_to(REPO).as_posix()
                    assert any(rel == a or rel.startswith(a + "/") or fnmatch.fnmatch(rel, a) for a in allowed), (
                        f"COPY {rel}: excluded from the build context by .dockerignore")


def test_build_stage_installs_every_package_of_the_project() -> None:
    copied = {copy_sources(args)[0][0].rstrip("/") for args in BUILD.all("COPY")}
    assert set(PACKAGES) <= copied, f"packages not copied into the build: {set(PACKAGES) - copied}"
    runs = " && ".join(BUILD.all("RUN"))
    assert "pip install --no-deps ." in runs and "pip install ." in runs


def test_default_command_is_a_real_entry_point() -> None:
    command = RUNTIME.all("CMD")[-1]
    argv = json.loads(command) if command.startswith("[") else shlex.split(command)
    check_entry_point(argv, "Dockerfile CMD")


def test_no_secret_is_baked_into_the_image() -> None:
    for stage in STAGES:
        for kw, args in stage.instructions:
            if kw in ("ENV", "ARG"):
                assert "SECRET" not in args.upper() and "PASSWORD" not in args.upper(), args
