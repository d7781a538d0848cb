"""The page routes over HTTP: what a browser needs before any script runs (module MIME type, CSP) and a
clear answer for a malformed session id."""

from __future__ import annotations

import uuid

import httpx
import pytest

from reference_app.launcher import ApiProcess

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", ["/", f"/sessions/{uuid.uuid4()}"])
def test_pages_are_html_with_a_script_from_self_policy(api: ApiProcess, path: str) -> None:
    response = httpx.get(f"{api.url}{path}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert 'type="module"' in response.text


def test_session_page_rejects_a_malformed_id_naming_it(api: ApiProcess) -> None:
    response = httpx.get(f"{api.url}/sessions/not-a-uuid", timeout=10)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "session_id"]


@pytest.mark.parametrize("name", ["sse-status-client.js", "demo-session.js", "demo-index.js"])
def test_modules_are_served_as_javascript(api: ApiProcess, name: str) -> None:
    """Browsers refuse a module script served with a non-JavaScript MIME type."""
    response = httpx.get(f"{api.url}/static/{name}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
