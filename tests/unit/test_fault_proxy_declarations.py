"""Each fault-proxy mode is declared once (a ``ProxyMode`` field and its ``ModeSpec``): parsing, writing
back, validation and the ``--mode`` help all come from that declaration, so none can miss a mode."""

from __future__ import annotations

import dataclasses

import pytest

from simulators.fault_proxy import ProxyMode
from simulators.fault_proxy.modes import ModeSpec, mode_help, mode_words

pytestmark = pytest.mark.unit

FIELDS = dataclasses.fields(ProxyMode)


def test_every_field_is_a_declared_mode() -> None:
    assert all(isinstance(f.metadata.get("spec"), ModeSpec) for f in FIELDS)
    names = [f.metadata["spec"].name for f in FIELDS]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("f", FIELDS, ids=lambda f: f.name)
def test_each_modes_example_parses_to_that_field_and_writes_back(f: dataclasses.Field[object]) -> None:
    spec: ModeSpec = f.metadata["spec"]
    word = spec.name if spec.example is None else f"{spec.name}={spec.example}"
    mode = ProxyMode.parse([word])
    changed = [g.name for g in FIELDS if getattr(mode, g.name) != g.default]
    if spec.name == "error-path":  # its example is its default: a no-op spec
        assert changed == [] and mode == ProxyMode()
        return
    assert changed == [f.name]
    assert mode.specs() == [word] or ProxyMode.parse(mode.specs()) == mode
    assert word in mode_words() and spec.help in mode_help()
