"""Browser-facing routes: the status client (static files) and the two demo pages.

The pages are plain HTML files with no server-side templating: everything dynamic comes from the API
through the page's own script (``static/demo-*.js``), exactly as a separate front end would do it, and the
page works for a visitor who is not signed in (the client then shows ``error``). A strict
Content-Security-Policy keeps the pages script-from-self only.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"

PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

router = APIRouter(include_in_schema=False)


def _page(name: str, status_code: int = 200) -> FileResponse:
    return FileResponse(TEMPLATES_DIR / name, status_code=status_code, media_type="text/html; charset=utf-8",
                        headers=PAGE_HEADERS)


#: A session id as the API writes it (``str(uuid4())``); demo-view.js checks the same pattern.
SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@router.get("/")
async def index_page() -> FileResponse:
    """Sign in (dev login), create a session and start a simulated transcription."""
    return _page("index.html")


@router.get("/sessions/{session_id}")
async def session_page(session_id: str) -> FileResponse:
    """Live status of one session; client options come from the query string (see docs/browser-client.md).
    Ownership is not checked here: the API behind the page answers 401/404 and the page shows it in words.
    A malformed id is a 404 with the same page, which says "no such session" (FastAPI's 422 JSON body is
    for API clients, not for someone who followed a broken link)."""
    return _page("session.html", 200 if SESSION_ID.fullmatch(session_id) else 404)


def mount(app: FastAPI) -> None:
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
