from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from qa.api.deps import EngineDep
from qa.api.schemas import AskRequest, error_responses
from qa.engine import QuestionError
from qa.types import AskResult

router = APIRouter(tags=["ask"])


@router.post(
    "/api/ask",
    response_model=AskResult,
    responses=error_responses(400, 413, 415, 422, 503),
    summary="Answer a question with verbatim quotes from the articles",
)
def ask(body: AskRequest, engine: EngineDep) -> Response:
    """`found: false` with no answers when the articles hold no answer."""
    try:
        result = engine.ask(
            body.question, k=body.k, history=body.history, since=body.since, until=body.until
        )
    except QuestionError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(e)) from None
    # Serialised here: for a returned model FastAPI would validate it once more, on a second
    # worker-thread hop (~0.6 ms an ask). The schema above still documents the reply.
    return Response(result.model_dump_json(), media_type="application/json")
