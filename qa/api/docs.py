"""``/docs`` (Swagger UI) from files the app serves itself: it works offline.

The Swagger UI build comes from the ``fastapi-offline`` package. The page is plain HTML that
loads those files and a small start-up script from this app: no CDN, no inline script. (No
ReDoc page: its build fetches its logo from a CDN.)
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"

# Relative URLs: the page lives at /docs, so they resolve against the app's root,
# also behind a proxy that serves the app under a prefix.
SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Article QA - API docs</title>
<link rel="stylesheet" href="docs-assets/swagger-ui.css">
<link rel="icon" href="docs-assets/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs-assets/swagger-ui-bundle.js"></script>
<script src="docs/start.js"></script>
</body>
</html>
"""
# validatorUrl null: Swagger UI would otherwise send the schema to an online validator.
SWAGGER_START = """window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""
router = APIRouter(include_in_schema=False)
router.mount("/docs-assets", StaticFiles(directory=ASSETS), name="docs-assets")


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(SWAGGER_PAGE)


@router.get("/docs/start.js")
def swagger_start() -> Response:
    return Response(SWAGGER_START, media_type="text/javascript")
