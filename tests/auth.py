"""Request headers the tests send; a module of its own so conftests and tests import it by name (a conftest
is not a module to import from)."""

from __future__ import annotations

from collections.abc import Mapping


def bearer(token: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **(extra or {})}
