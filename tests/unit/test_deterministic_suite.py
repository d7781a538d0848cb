"""``make test`` is deterministic: the property-based and fuzz tests run on examples derived from the tests
themselves (the root conftest's ``deterministic`` hypothesis profile), unless ``make explore`` asks for a
random seed."""

from __future__ import annotations

import hypothesis
import pytest

pytestmark = pytest.mark.unit


def test_hypothesis_is_derandomized_unless_exploring(request: pytest.FixtureRequest) -> None:
    profile = request.config.getoption("hypothesis_profile", None) or "deterministic"
    current = hypothesis.settings.default
    if profile == "explore":
        assert current.derandomize is False
    else:
        assert current.derandomize is True
        assert current.database is None  # no examples replayed from an earlier run's database
