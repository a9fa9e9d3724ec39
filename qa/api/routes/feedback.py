"""``/api/feedback``: readers say whether an answer helped; the operator reads what they said."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from indexer.stores.base import FeedbackRecord
from qa.api.deps import EngineDep, WriteAccess
from qa.api.schemas import FeedbackIn, FeedbackOut, FeedbackPage, error_responses
from qa.feedback import UnknownArticleError, record_feedback

router = APIRouter(prefix="/api/feedback", tags=["feedback"])


def _out(record: FeedbackRecord) -> FeedbackOut:
    created = datetime.fromtimestamp(record.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return FeedbackOut(**{**dataclasses.asdict(record), "created_at": created})


@router.post(
    "",
    response_model=FeedbackOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 404, 413, 415, 422, 503),
    summary="Say whether an answer helped (no key needed)",
)
def post_feedback(body: FeedbackIn, engine: EngineDep) -> FeedbackOut:
    try:
        record = record_feedback(engine, **body.model_dump())
    except UnknownArticleError as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(e)) from None
    return _out(record)


@router.get(
    "",
    response_model=FeedbackPage,
    dependencies=[WriteAccess],
    responses=error_responses(401, 403, 422, 503),
    summary="List the feedback, oldest first (needs the key when QA_API_KEY is set)",
)
def list_feedback(
    engine: EngineDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    helpful: Annotated[bool | None, Query(description="Only (not) helpful ones")] = None,
) -> FeedbackPage:
    total, records = engine.store.list_feedback(offset, limit, helpful)
    return FeedbackPage(total=total, offset=offset, limit=limit, items=[_out(r) for r in records])
