from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from qa.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(request: Request) -> Health | JSONResponse:
    """200 ``ok`` only once the engine can answer; 503 ``starting``/``error`` before."""
    engine = request.app.state.engine
    if engine is None:
        error = request.app.state.startup_error
        body = Health(status="error" if error else "starting", detail=error)
        return JSONResponse(body.model_dump(), status_code=503)
    articles, passages = engine.counts()
    return Health(status="ok", articles=articles, passages=passages)
