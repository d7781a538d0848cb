"""ProxyMode specs: the vocabulary shared by the library, ``sse-harness proxy --mode`` and the control
endpoint. Bad specs must say what is wrong and what would be right."""

from __future__ import annotations

import pytest

from simulators.fault_proxy import ProxyMode

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ([], ProxyMode()),
        (["pass"], ProxyMode()),
        (["buffer"], ProxyMode(buffer_until_close=True)),
        (["gzip", "buffer-bytes=4096"], ProxyMode(gzip=True, buffer_bytes=4096)),
        (["idle-timeout=100", "kill-after=30"], ProxyMode(idle_timeout_s=100, kill_after_s=30)),
        (["drop-every=3", "latency=200", "status=503"], ProxyMode(drop_every=3, latency_ms=200, error_status=503)),
        (["status=502", "error-path=/events"], ProxyMode(error_status=502, error_path="/events")),
    ],
)
def test_mode_specs_round_trip(specs: list[str], expected: ProxyMode) -> None:
    mode = ProxyMode.parse(specs)
    assert mode == expected
    assert ProxyMode.parse(mode.specs()) == mode


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["gzipp"], "unknown proxy mode 'gzipp'"),
        (["latency"], "needs a value, e.g. latency=200"),
        (["gzip=1"], "takes no value"),
        (["drop-every=x"], "bad value for proxy mode 'drop-every'"),
        (["status=200"], "error_status must be a 4xx or 5xx"),
        (["idle-timeout=0"], "idle_timeout_s must be > 0"),
        (["error-path=("], "not a valid regular expression"),
    ],
)
def test_bad_specs_name_the_problem(specs: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ProxyMode.parse(specs)
