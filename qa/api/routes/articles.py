from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from indexer.load import LoadProblem, article_from_record
from indexer.stores.base import IndexDamagedError
from qa.api.deps import EngineDep, WriteAccess
from qa.api.schemas import (
    ArticleIn,
    ArticleItem,
    ArticlePage,
    ArticleWriteResult,
    error_responses,
)
from qa.types import Article

router = APIRouter(prefix="/api/articles", tags=["articles"])


@router.get(
    "",
    response_model=ArticlePage,
    responses=error_responses(422, 503),
    summary="List indexed articles (paged, searchable)",
)
def list_articles(
    engine: EngineDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    q: Annotated[str | None, Query(max_length=200, description="Filter by title/id")] = None,
) -> ArticlePage:
    total, rows = engine.list_articles(offset, limit, q)
    items = [
        ArticleItem(id=r.id, title=r.title, url=r.url, passages=r.passages, chars=r.chars)
        for r in rows
    ]
    return ArticlePage(total=total, offset=offset, limit=limit, items=items)


@router.get(
    "/{article_id:path}",
    response_model=Article,
    response_model_exclude={"source"},
    responses=error_responses(404, 503),
    summary="One article with its full text (the text answers' offsets refer to)",
)
def get_article(article_id: str, engine: EngineDep) -> Article:
    try:
        article = engine.get_article(article_id)
    except IndexDamagedError:
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            detail="the stored copy of this article is damaged (it fails its checksum): "
            "the operator can find it with qa-index check",
        ) from None
    if article is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no article with id {article_id!r}")
    return article


@router.post(
    "",
    response_model=ArticleWriteResult,
    status_code=status.HTTP_201_CREATED,
    dependencies=[WriteAccess],
    responses={
        200: {"model": ArticleWriteResult, "description": "Unchanged: already indexed as is."},
        **error_responses(400, 401, 403, 409, 413, 415, 422, 503, 507),
    },
    summary="Add or update one article",
)
def add_article(body: ArticleIn, engine: EngineDep, response: Response) -> ArticleWriteResult:
    # The one way a record becomes an article: the same as a line of a JSONL file.
    try:
        article = article_from_record(body.model_dump())
    except LoadProblem as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(e)) from None
    if body.id is None and body.url is None:
        # The id comes from the title alone: another article with the same title must not
        # silently replace this one.
        try:
            stored = engine.get_article(article.id)
        except IndexDamagedError:
            stored = None  # replacing a damaged row is a repair
        if stored is not None and (stored.title, stored.text) != (article.title, article.text):
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"an article titled {stored.title!r} already has the id {article.id!r} "
                "with other text: send its 'id' to replace it, or give this one an 'id' or a "
                "'url' of its own",
            )
    # Rebuilding BM25 takes seconds on a large index: not on the request's time.
    report = engine.add([article], update_bm25="background")
    if report.unchanged:
        response.status_code = status.HTTP_200_OK
        state = "unchanged"
    else:
        state = "updated" if report.updated else "added"
    return ArticleWriteResult(id=article.id, status=state, passages=report.passages_total)


@router.delete(
    "/{article_id:path}",
    response_model=ArticleWriteResult,
    dependencies=[WriteAccess],
    responses=error_responses(401, 403, 404, 503, 507),
    summary="Delete an article and its passages",
)
def delete_article(article_id: str, engine: EngineDep) -> ArticleWriteResult:
    removed, _ = engine.remove([article_id], update_bm25="background")
    if not removed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no article with id {article_id!r}")
    return ArticleWriteResult(id=article_id, status="deleted")
