"""The fault proxy's modes: each one declared once, as a field of ``ProxyMode``.

A field's ``mode(...)`` metadata is the only place a mode is named: its spec word for the command line and
the control endpoint (``gzip``, ``status=503``), what it does, an example value and the rule its value must
obey. Parsing specs, writing them back, validating a mode and the ``--mode`` help are all read from it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_ERROR_PATH", "STREAM_PATH", "ModeSpec", "ProxyMode", "mode_help", "mode_words"]

#: The stream endpoint of docs/contract.md (a regular expression searched in the request path).
STREAM_PATH = r"/status/stream"
#: Where ``status=...`` injects its error by default.
DEFAULT_ERROR_PATH = STREAM_PATH


@dataclass(frozen=True, slots=True)
class ModeSpec:
    """How one ``ProxyMode`` field is written as a spec. ``example`` None: a flag without a value."""

    name: str
    help: str
    example: str | None = None
    convert: Callable[[str], Any] = str
    valid: Callable[[Any], bool] = lambda _value: True
    rule: str = ""
    aliases: tuple[str, ...] = ()

    def write(self, value: Any) -> str:
        if self.example is None:
            return self.name
        return f"{self.name}={value:g}" if isinstance(value, float) else f"{self.name}={value}"


def mode(default: Any, spec: ModeSpec) -> Any:
    return field(default=default, metadata={"spec": spec})


def _regex(value: str) -> bool:
    try:
        re.compile(value)
    except re.error:
        return False
    return True


def _positive(value: float | None) -> bool:
    return value is None or value > 0


def _not_negative(value: float) -> bool:
    return value >= 0


@dataclass(frozen=True, slots=True)
class ProxyMode:
    """Which faults are on. The default is a clean pass-through; fields combine freely."""

    buffer_until_close: bool = mode(False, ModeSpec(
        "buffer", "hold the whole body until the origin ends it (nginx proxy_buffering on a short stream)",
        aliases=("buffer-until-close",)))
    buffer_bytes: int = mode(0, ModeSpec(
        "buffer-bytes", "hold the body until N bytes are pending, then flush them (a proxy buffer filling up)",
        "4096", int, _not_negative, "must be >= 0"))
    gzip: bool = mode(False, ModeSpec(
        "gzip", "gzip the body without flushing (what nginx gzip on does to text/event-stream)"))
    idle_timeout_s: float | None = mode(None, ModeSpec(
        "idle-timeout", "after S seconds without a byte from the origin: 524 before the headers, else a cut "
        "(Cloudflare's 100 s)", "100", float, _positive, "must be > 0"))
    kill_after_s: float | None = mode(None, ModeSpec(
        "kill-after", "close every client connection S seconds after it was accepted", "30", float, _positive,
        "must be > 0"))
    drop_every: int = mode(0, ModeSpec(
        "drop-every", "close every Nth accepted connection at once, without an answer", "3", int,
        _not_negative, "must be >= 0"))
    latency_ms: float = mode(0.0, ModeSpec(
        "latency", "delay every byte from the origin by MS milliseconds", "200", float, _not_negative, "must be >= 0"))
    error_status: int | None = mode(None, ModeSpec(
        "status", "answer this 4xx/5xx instead of proxying, for paths matching error-path", "503", int,
        lambda v: v is None or 400 <= v <= 599, "must be a 4xx or 5xx code"))
    error_path: str = mode(DEFAULT_ERROR_PATH, ModeSpec(
        "error-path", "the paths status= answers for (a regular expression searched in the path)",
        STREAM_PATH, str, _regex, "is not a valid regular expression"))

    def __post_init__(self) -> None:
        for f, spec in _fields():
            value = getattr(self, f.name)
            if not spec.valid(value):
                raise ValueError(f"{f.name} {spec.rule}, got {value!r}")

    @property
    def passthrough(self) -> bool:
        return self == ProxyMode(error_path=self.error_path)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> ProxyMode:
        """Build a mode from specs like ``gzip``, ``buffer-bytes=4096``, ``idle-timeout=100``, ``status=503``.

        Raises ``ValueError`` naming the bad spec and listing the known ones.
        """
        changes: dict[str, Any] = {}
        for raw in specs:
            word = raw.strip()
            if not word:
                continue
            name, has_value, value = word.partition("=")
            name = name.strip().lower().replace("_", "-")
            if name in _PASS:
                if has_value:
                    raise ValueError(f"proxy mode {name!r} takes no value")
                continue
            if name not in _BY_NAME:
                raise ValueError(f"unknown proxy mode {name!r}; known: {', '.join(sorted([*_BY_NAME, *_PASS]))}")
            f, spec = _BY_NAME[name]
            if spec.example is not None and not has_value:
                raise ValueError(f"proxy mode {name!r} needs a value, e.g. {spec.name}={spec.example}")
            if spec.example is None and has_value:
                raise ValueError(f"proxy mode {name!r} takes no value")
            try:
                changes[f.name] = spec.convert(value.strip()) if spec.example is not None else True
            except ValueError:
                raise ValueError(f"bad value for proxy mode {name!r}: {value!r} "
                                 f"(e.g. {spec.name}={spec.example})") from None
        return cls(**changes)

    def specs(self) -> list[str]:
        """The inverse of ``parse``: what is switched on, as specs (``[]`` for pass-through)."""
        return [spec.write(getattr(self, f.name)) for f, spec in _fields()
                if getattr(self, f.name) != f.default]

    def describe(self) -> str:
        return ", ".join(self.specs()) or "pass-through"


def _fields() -> list[tuple[dataclasses.Field[Any], ModeSpec]]:
    return [(f, f.metadata["spec"]) for f in dataclasses.fields(ProxyMode)]


_PASS = ("pass", "pass-through")
_BY_NAME: dict[str, tuple[dataclasses.Field[Any], ModeSpec]] = {
    name: (f, spec) for f, spec in _fields() for name in (spec.name, *spec.aliases)
}


def mode_words() -> list[str]:
    """Every spec as written on the command line (``gzip``, ``status=503``), ``pass`` first."""
    return ["pass", *(s.name if s.example is None else f"{s.name}={s.example}" for _f, s in _fields())]


def mode_help() -> str:
    """One line per mode, for ``sse-harness proxy --help`` and the docs."""
    lines = ["pass: a clean pass-through (the default)"]
    for _f, spec in _fields():
        word = spec.name if spec.example is None else f"{spec.name}={spec.example}"
        lines.append(f"{word}: {spec.help}")
    return "; ".join(lines)
