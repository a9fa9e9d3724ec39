from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from qa.api.schemas import Health
from qa.engine import public_reason

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(request: Request) -> Health | JSONResponse:
    """200 ``ok`` only when a real ask works: the engine's self-test, run after it opened
    the index and again after every change to it. 503 ``starting`` or ``error`` otherwise,
    with a short reason (never a path: the server log has the details)."""
    startup = request.app.state.startup
    engine, error = startup.engine, startup.error
    if engine is None:
        body = Health(status="error" if error else "starting", detail=error)
        return JSONResponse(body.model_dump(), status_code=503)
    try:
        report = engine.health()
        articles, passages = engine.counts()
    except Exception as exc:
        log.exception("/healthz failed")
        body = Health(status="error", detail=public_reason(exc))
        return JSONResponse(body.model_dump(), status_code=503)
    if not report.ok:
        body = Health(status="error", articles=articles, passages=passages, detail=report.reason)
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", articles=articles, passages=passages, detail=report.note)
