from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from qa.api.deps import EngineDep
from qa.api.schemas import AskRequest, ErrorBody
from qa.engine import QuestionError
from qa.types import AskResult

router = APIRouter(tags=["ask"])


@router.post(
    "/api/ask",
    response_model=AskResult,
    responses={422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
    summary="Answer a question with verbatim quotes from the articles",
)
def ask(body: AskRequest, engine: EngineDep) -> AskResult:
    """`found: false` with no answers when the articles hold no answer."""
    try:
        return engine.ask(body.question, k=body.k)
    except QuestionError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(e)) from None
