"""Browser selection for the e2e suite: Playwright's build first, else a system Chromium with the right
flags, else a clear error (never a silent skip)."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e import browsers

pytestmark = pytest.mark.unit


def test_bundled_chromium_needs_no_overrides(tmp_path: Path) -> None:
    bundled = tmp_path / "chrome"
    bundled.touch()
    assert browsers.chromium_overrides(str(bundled), is_root=True) == {}


@pytest.mark.parametrize(("is_root", "sandbox_off"), [(True, True), (False, False)])
def test_system_chromium_with_no_sandbox_only_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, is_root: bool, sandbox_off: bool
) -> None:
    system = tmp_path / "chromium"
    system.touch()
    monkeypatch.setattr(browsers, "SYSTEM_CHROMIUMS", (str(tmp_path / "missing"), str(system)))
    overrides = browsers.chromium_overrides(str(tmp_path / "no-bundled"), is_root=is_root)
    assert overrides["executable_path"] == str(system)
    assert ("--no-sandbox" in overrides["args"]) is sandbox_off


def test_no_chromium_is_an_error_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browsers, "SYSTEM_CHROMIUMS", (str(tmp_path / "missing"),))
    with pytest.raises(browsers.NoChromium, match="make browser"):
        browsers.chromium_overrides(str(tmp_path / "no-bundled"))
