"""Contract points 11 and 8 on the real reference app (``sse-harness serve`` on a real redis-server): the
operator hooks kill and restart Redis (``--bus-down-cmd``/``--bus-up-cmd``), then SIGTERM the API process
(``--shutdown-cmd "kill -TERM <pid>"``); ``bus.down-503`` and ``shutdown.sigterm`` pass.

The hooks reach Redis through a loopback control server of this test process (``helpers.control_server``), so
the redis-server stays this process's child and is stopped whatever happens; in a real deployment they are
``docker compose stop redis`` / ``docker compose start redis`` (docs/conformance.md)."""

from __future__ import annotations

import secrets
import signal

import pytest

from conformance import CheckOptions, run_sync
from reference_app.embedded_redis import EmbeddedRedis
from reference_app.launcher import ApiProcess
from tests.conformance.helpers import control_server, post_cmd

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

GRACE_S = 2


def test_reference_app_passes_the_bus_outage_and_sigterm() -> None:
    with EmbeddedRedis(appendonly=True) as redis_server, \
            ApiProcess(redis_server.url, env={"SSE_HEARTBEAT_S": "1", "SSE_SHUTDOWN_GRACE_S": str(GRACE_S)}) as api, \
            control_server({"down": redis_server.kill, "up": redis_server.restart}) as control:
        report = run_sync(CheckOptions(
            api.url, dev_login=f"hooks-{secrets.token_hex(4)}", only=["bus", "shutdown"],
            bus_down_cmd=post_cmd(f"{control}/down"), bus_up_cmd=post_cmd(f"{control}/up"),
            shutdown_cmd=f"kill -TERM {api.pid}", shutdown_grace_s=GRACE_S,
            # no Celery worker here: the checker publishes the recovery's job itself (its live status proves
            # the API's subscriber came back)
            trigger="redis", redis_url=redis_server.url))
        assert api.process is not None
        code = api.process.wait(GRACE_S + 5)
    results = {r.id: (r.outcome.value, r.message) for r in report.results}
    assert report.exit_code == 0, results
    assert {k: v[0] for k, v in results.items()} == {"bus.down-503": "pass", "shutdown.sigterm": "pass"}, results
    assert code in (0, -signal.SIGTERM), f"the API exited with {code}"
    bus = report.get("bus.down-503")
    assert bus is not None and bus.evidence["recovered_after_s"] is not None
