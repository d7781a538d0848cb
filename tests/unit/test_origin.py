"""The one HTTP origin parser (``sse_client.Origin``), used by the fault proxy and the load harness."""

from __future__ import annotations

import pytest

from sse_client import Origin

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("url", "expected", "host_header"), [
    ("http://127.0.0.1:8000", Origin("http", "127.0.0.1", 8000, ""), "127.0.0.1:8000"),
    ("https://api.example.com/base/", Origin("https", "api.example.com", 443, "/base"), "api.example.com"),
    ("http://example.com", Origin("http", "example.com", 80, ""), "example.com"),
    ("http://[::1]:9000/x", Origin("http", "::1", 9000, "/x"), "[::1]:9000"),
])
def test_parse(url: str, expected: Origin, host_header: str) -> None:
    origin = Origin.parse(url)
    assert origin == expected and origin.host_header == host_header


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://x", "http://", "http://h:99999", "redis://h"])
def test_refuses_what_is_not_an_http_origin(url: str) -> None:
    with pytest.raises(ValueError, match="upstream"):
        Origin.parse(url, what="upstream")
