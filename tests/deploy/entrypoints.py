"""Does a command from a deployment file name something the image (or the platform's build) really
provides? Shared by the compose, Dockerfile and render.yaml tests."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer

from sse_harness.cli import app as cli_app
from tests.deploy.files import REPO, dockerfile_stages, repo_path_in_image

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
RUNTIME = dockerfile_stages()[-1]


def dependency_names() -> set[str]:
    names = set()
    for spec in PYPROJECT["project"]["dependencies"]:
        names.add(spec.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower())
    return names


def resolve_image_path(path: str) -> Path:
    source = repo_path_in_image(path, RUNTIME)
    assert source is not None, f"{path} is not in the image: no COPY in the Dockerfile's runtime stage puts it there"
    assert source.exists(), f"{path} comes from {source.relative_to(REPO)}, which does not exist"
    return source


def check_sse_harness(argv: list[str]) -> None:
    """Parse the arguments with the real CLI (sub-commands, types, ranges, unknown options) without running
    anything; a bad option raises the CLI's own usage error, which names it."""
    command: Any = typer.main.get_command(cli_app)
    name, rest, parent = "sse-harness", list(argv[1:]), None
    while hasattr(command, "get_command"):  # a group: descend into the sub-command named next
        assert rest and not rest[0].startswith("-"), f"`{' '.join(argv)}`: no sub-command of {name}"
        ctx = command.make_context(name, [rest[0]], parent=parent)
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"`{' '.join(argv)}`: {rest[0]!r} is not a command of {name}"
        parent, command, name, rest = ctx, sub, rest[0], rest[1:]
    command.make_context(name, rest, parent=parent)


def locust_argv_for_repo(argv: list[str]) -> list[str]:
    out = list(argv)
    i = out.index("-f")
    out[i + 1] = str(resolve_image_path(out[i + 1]))
    return out


def check_entry_point(argv: list[str], where: str, *, in_image: bool = True) -> None:
    """``in_image=False`` for platforms that run from a checkout of the repo (Render): script paths are
    then relative to the repo root instead of mapped through the Dockerfile."""
    program = argv[0]
    if program == "sse-harness":
        assert program in PYPROJECT["project"]["scripts"], where
        check_sse_harness(argv)
    elif program == "locust":
        assert "locust" in dependency_names(), f"{where}: locust is not a dependency of the image"
        locust_argv_for_repo(argv)  # the locustfile must be in the image; its options: test_locust_commands
    elif program == "celery":
        assert "celery" in dependency_names(), f"{where}: celery is not a dependency of the image"
        module = argv[argv.index("-A") + 1]
        assert (REPO / (module.replace(".", "/") + ".py")).exists(), f"{where}: no module {module}"
    elif program == "python":
        if argv[1] == "-m":
            assert (REPO / (argv[2].replace(".", "/") + ".py")).exists(), f"{where}: no module {argv[2]}"
        elif in_image:
            resolve_image_path(argv[1])
        else:
            assert (REPO / argv[1]).exists(), f"{where}: no file {argv[1]} in the repo"
    else:
        pytest.fail(f"{where}: {program!r} is not an entry point the image provides")
