"""The chat page (``GET /``) and its static files.

The page is a template with no inline script or style (the app's CSP forbids both); all
behaviour is in ``static/app.js`` and the ES modules it imports from ``static/js/`` (no build
step), which call the JSON API (``/api/ask``, ``/api/articles``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response
from starlette.staticfiles import PathLike
from starlette.types import Scope

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=WEB_DIR / "templates")


class RevalidatedStaticFiles(StaticFiles):
    """Static files the browser revalidates on every load (a 304 while unchanged): the page's
    modules import each other by plain URLs, so no module may be served stale from the cache
    next to a newer one after an upgrade."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


router = APIRouter(include_in_schema=False)
router.mount("/static", RevalidatedStaticFiles(directory=STATIC_DIR), name="static")


def asset_version(static_dir: Path = STATIC_DIR) -> str:
    """A short hash of the static files, appended to their URLs so a new release is fetched
    at once instead of being served from a stale browser cache."""
    h = hashlib.sha256()
    for path in sorted(p for p in static_dir.rglob("*") if p.is_file()):
        h.update(path.relative_to(static_dir).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


ASSET_VERSION = asset_version()


@router.get("/", response_class=HTMLResponse)
def chat_page(request: Request) -> HTMLResponse:
    """The chat page. Always revalidated, so it points at the current static files."""
    response = templates.TemplateResponse(request, "index.html", {"asset_version": ASSET_VERSION})
    response.headers["Cache-Control"] = "no-cache"
    return response
