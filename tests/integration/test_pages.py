"""The page routes over HTTP: what a browser needs before any script runs (module MIME type, CSP) and a
clear answer for a malformed session id (the page itself, with 404)."""

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


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "00000000000040008000000000000000", f"{{{uuid.uuid4()}}}"])
def test_session_page_answers_a_malformed_id_with_the_page_and_404(api: ApiProcess, bad_id: str) -> None:
    """Issue 11.8: a malformed id is a 404 with the page itself (which says "no such session" in words),
    never FastAPI's 422 JSON; only the id form the API writes counts (demo-view.js checks the same)."""
    response = httpx.get(f"{api.url}/sessions/{bad_id}", timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "content-security-policy" in response.headers
    assert 'data-testid="error"' in response.text and '"detail"' not in response.text


def test_session_page_accepts_an_id_in_capitals(api: ApiProcess) -> None:
    response = httpx.get(f"{api.url}/sessions/{str(uuid.uuid4()).upper()}", timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize("name", ["sse-status-client.js", "demo-session.js", "demo-view.js", "demo-index.js"])
def test_modules_are_served_as_javascript(api: ApiProcess, name: str) -> None:
    """Browsers refuse a module script served with a non-JavaScript MIME type."""
    response = httpx.get(f"{api.url}/static/{name}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
