"""Which Chromium to launch: shared by the e2e fixtures and the screenshot script."""

from __future__ import annotations

import os
from typing import Any

SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


class NoChromium(RuntimeError):
    pass


def chromium_overrides(bundled_executable: str, is_root: bool | None = None) -> dict[str, Any]:
    """Launch arguments that make Chromium start here: none for Playwright's own build, else the system
    binary with the flags it needs in a container (``--no-sandbox`` only as root, where Chromium's
    sandbox refuses to start)."""
    if os.path.exists(bundled_executable):
        return {}
    if is_root is None:
        is_root = os.geteuid() == 0
    for candidate in SYSTEM_CHROMIUMS:
        if os.path.exists(candidate):
            args = ["--disable-gpu", "--disable-background-networking"]
            if is_root:
                args.insert(0, "--no-sandbox")
            return {"executable_path": candidate, "args": args}
    raise NoChromium(
        "no Chromium for the e2e suite: run `make browser` (Playwright's Chromium, or the distribution's "
        "`chromium` package when that download is impossible)"
    )
