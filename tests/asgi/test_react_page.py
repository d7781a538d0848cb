"""The /react-demo route in-process: the page when its bundle is built, one clear 503 when it is not
(the bundle comes from `make react`, which `make demo` and `make test` run; it is not committed)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from reference_app import pages
from tests.asgi.harness import make_app

pytestmark = pytest.mark.asgi


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app, _bus, _settings = make_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
        yield http


async def test_react_page_is_html_with_the_script_from_self_policy(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "react-demo.js"
    bundle.write_text("export {};\n")
    monkeypatch.setattr(pages, "REACT_BUNDLE", bundle)
    response = await client.get(f"/react-demo/sessions/{uuid.uuid4()}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert '<script type="module" src="/static/react/react-demo.js">' in response.text
    assert 'id="root"' in response.text


async def test_react_page_without_its_bundle_says_how_to_build_it(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "REACT_BUNDLE", tmp_path / "missing.js")
    response = await client.get(f"/react-demo/sessions/{uuid.uuid4()}")
    assert response.status_code == 503
    assert "make react" in response.text


async def test_react_page_answers_a_malformed_id_with_the_page_and_404(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the plain page: the page itself (which says "no such session"), with 404."""
    bundle = tmp_path / "react-demo.js"
    bundle.write_text("export {};\n")
    monkeypatch.setattr(pages, "REACT_BUNDLE", bundle)
    response = await client.get("/react-demo/sessions/not-a-uuid")
    assert response.status_code == 404
    assert 'id="root"' in response.text
