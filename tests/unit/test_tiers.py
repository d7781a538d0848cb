"""Test folders are tiers are markers: a test module in a tier's folder carries that tier's marker and no
other tier's, so ``pytest -m unit`` (``make unit``, ``tox -e unit``) runs exactly what ``tests/unit`` holds.

Topic folders (tests/conformance, tests/deploy, tests/security, tests/load) mix tiers on purpose and are not
checked here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TIERS = {"tests/unit": "unit", "tests/asgi": "asgi", "tests/integration": "integration", "tests/faults": "fault",
         "e2e": "e2e"}
TIER_MARKERS = {"unit", "asgi", "integration", "e2e", "load", "fault"}


def module_markers(path: Path) -> set[str]:
    """The ``pytest.mark.X`` names in the module-level ``pytestmark``."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                for t in node.targets):
            return {n.attr for n in ast.walk(node.value) if isinstance(n, ast.Attribute)
                    and isinstance(n.value, ast.Attribute) and n.value.attr == "mark"}
    return set()


@pytest.mark.parametrize("folder", sorted(TIERS))
def test_every_module_in_a_tier_folder_is_marked_with_that_tier_only(folder: str) -> None:
    wrong = {}
    for path in sorted((ROOT / folder).glob("test_*.py")):
        tiers = module_markers(path) & TIER_MARKERS
        if tiers != {TIERS[folder]}:
            wrong[path.name] = sorted(tiers)
    assert wrong == {}, f"{folder} holds {TIERS[folder]} tests; these modules are marked otherwise: {wrong}"


def test_the_check_sees_a_misplaced_module(tmp_path: Path) -> None:
    module = tmp_path / "test_x.py"
    module.write_text("import pytest\npytestmark = [pytest.mark.asgi, pytest.mark.timeout(5)]\n")
    assert module_markers(module) == {"asgi", "timeout"}
