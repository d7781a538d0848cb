"""The Locust entry point: ``locust -f loadtests/locustfile.py [UserClass ...]``.

Without class names Locust runs every scenario by weight (the ``mixed`` scenario); name classes to run
one (``SteadyUser``), or pick them in the web UI with ``--class-picker``. ``sse-harness load --scenario``
does this for you and adds the summary and SLO gate. See docs/load-testing.md.
"""

from __future__ import annotations

import loadtests.plugin  # noqa: F401  (registers the --sse-* options and the listeners)
from loadtests.scenarios import (
    ConnectStormUser,
    FanoutUser,
    PollingUser,
    ReconnectStormUser,
    SteadyUser,
)

__all__ = ["ConnectStormUser", "FanoutUser", "PollingUser", "ReconnectStormUser", "SteadyUser"]
