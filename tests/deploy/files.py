"""Readers for the deployment files (compose, Dockerfile, nginx config, render.yaml, tox.ini), shared by the
tests in this folder. Nothing here runs Docker: these are the facts the tests check against the repo."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
NGINX_CONF = REPO / "deploy" / "nginx" / "default.conf"
RENDER = REPO / "render.yaml"
TOX_INI = REPO / "tox.ini"


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    return data


def as_argv(command: str | list[str]) -> list[str]:
    """A compose/render command in exec form; a string is split as the shell would split it."""
    return list(command) if isinstance(command, list) else shlex.split(command)


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages with their instructions (line continuations joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: list[Stage] = []
    build_args: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = " ".join(args.split())
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            build_args[name] = default
            continue
        if keyword == "FROM":
            parts = args.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: build_args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, base))
            continue
        assert stages, f"{keyword} before the first FROM"
        stages[-1].instructions.append((keyword, args))
    return stages


def copy_sources(args: str) -> tuple[list[str], str, dict[str, str]]:
    """``COPY [--flag=x ...] src... dest`` (shell form) -> sources, destination, flags."""
    words = args.split()
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return words[:-1], words[-1], flags


def container_files(stage: Stage) -> dict[PurePosixPath, Path]:
    """Where the stage's ``COPY`` instructions from the build context put repo paths in the container."""
    workdir = PurePosixPath("/")
    placed: dict[PurePosixPath, Path] = {}
    for keyword, args in stage.instructions:
        if keyword == "WORKDIR":
            workdir = workdir / args
        elif keyword == "COPY":
            sources, dest, flags = copy_sources(args)
            if "from" in flags:
                continue
            target = workdir / dest
            for src in sources:
                placed[target if len(sources) == 1 and not dest.endswith("/") else target / src] = REPO / src
    return placed


def repo_path_in_image(container_path: str, stage: Stage) -> Path | None:
    """The repo file that ends up at ``container_path`` in the image, or None if the image lacks it."""
    wanted = PurePosixPath(container_path)
    for placed, source in container_files(stage).items():
        if wanted == placed:
            return source
        if placed in wanted.parents:
            return source / wanted.relative_to(placed)
    return None


def dockerignore_allowlist(path: Path = DOCKERIGNORE) -> list[str]:
    """The ``!pattern`` lines of an allowlist-style .dockerignore (one that starts by excluding ``*``)."""
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*", ".dockerignore must start with '*' (allowlist style)"
    return [ln[1:].rstrip("/") for ln in lines if ln.startswith("!")]


def nginx_blocks(text: str) -> dict[str, str]:
    """Every ``location``/``upstream``/``server`` block body of an nginx config (nested ones too), keyed by
    its header."""
    text = re.sub(r"#[^\n]*", "", text)
    blocks: dict[str, str] = {}
    for match in re.finditer(r"(\b(?:location|upstream|server)\b[^{;]*)\{", text):
        depth, start = 1, match.end()
        i = start
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        blocks[" ".join(match.group(1).split())] = text[start:i - 1]
    return blocks


def nginx_directives(body: str) -> dict[str, list[str]]:
    """``name -> [args, ...]`` for the directives directly in ``body`` (nested blocks left out)."""
    flat = re.sub(r"\{[^{}]*\}", "", body)
    while re.search(r"\{[^{}]*\}", flat):
        flat = re.sub(r"\{[^{}]*\}", "", flat)
    result: dict[str, list[str]] = {}
    for statement in flat.split(";"):
        words = statement.split(None, 1)
        if words:
            result.setdefault(words[0], []).append(words[1].strip() if len(words) > 1 else "")
    return result


def nginx_seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert match, f"unsupported nginx time {value!r}"
    return int(match.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[match.group(2)]
