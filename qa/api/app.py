"""The FastAPI application: JSON API, chat page and Slack endpoint over one Engine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.api import docs
from qa.api.middleware import (
    BodySizeLimitMiddleware,
    SecurityHeadersMiddleware,
    UnexpectedErrorMiddleware,
)
from qa.api.routes import articles, ask, feedback, health, sources
from qa.demo import EngineStartup
from qa.engine import Engine
from qa.settings import Settings

log = logging.getLogger(__name__)


def _describe(errors: Sequence[Any]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(parts) or "invalid request"


_FASTAPI_PARSE_ERROR = "There was an error parsing the body"


def _is_json(content_type: str) -> bool:
    """Whether FastAPI parses a body of this type as JSON (``*/json`` or ``*/*+json``)."""
    media = content_type.split(";", 1)[0].strip().lower()
    subtype = media.partition("/")[2]
    return subtype == "json" or subtype.endswith("+json")


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length != "0")


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app. With ``engine`` given it is used as is; otherwise one is built at start-up
    in the background, and ``/healthz`` answers 503 until it can answer questions."""
    settings = settings or Settings()
    if settings.api_key is None and settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "serving on %s without QA_API_KEY: anyone who can reach it can add and delete "
            "articles; set QA_API_KEY",
            settings.host,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.startup.start()
        schedule = None
        if settings.refresh_minutes:
            from qa.sources import RefreshSchedule

            schedule = RefreshSchedule(lambda: app.state.startup.engine, settings.refresh_minutes)
            app.state.refresh_schedule = schedule.start()
        yield
        if schedule is not None:
            schedule.stop()

    app = FastAPI(
        title="Article QA",
        summary="Answers quoted word for word from your articles.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from local files by qa.api.docs
        redoc_url=None,  # one docs page is enough
    )
    app.state.settings = settings
    app.state.startup = EngineStartup(settings, engine)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
        whole_body = [e for e in errors if tuple(e.get("loc", ())) == ("body",)]
        if whole_body and not _has_body(request):
            detail = "the request body is empty: send a JSON object"
        elif whole_body and not _is_json(request.headers.get("content-type", "")):
            code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
            got = request.headers.get("content-type") or "no Content-Type"
            detail = f"send the body as JSON with 'Content-Type: application/json' (got {got})"
        elif whole_body:
            detail = "the body must be a JSON object: " + _describe(errors)
        elif any(e.get("type") == "json_invalid" for e in errors):
            detail = "the body is not valid JSON: " + _describe(errors)
        else:
            detail = _describe(errors)
        return JSONResponse({"detail": detail}, status_code=code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == status.HTTP_400_BAD_REQUEST and detail == _FASTAPI_PARSE_ERROR:
            detail = "the body could not be parsed: send UTF-8 JSON, not nested too deeply"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    app.include_router(ask.router)
    app.include_router(articles.router)
    app.include_router(feedback.router)
    app.include_router(sources.router)
    app.include_router(health.router)
    app.include_router(docs.router)

    from web.routes import router as web_router

    app.include_router(web_router)

    if settings.slack_bot_token and settings.slack_signing_secret:
        from qa.slack.http import make_router

        app.include_router(make_router(app, settings))

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Inside the security headers: an unexpected error becomes a JSON 500 (507 for a full
    # disk) that still gets them, and the connection stays open.
    app.add_middleware(UnexpectedErrorMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    return app
