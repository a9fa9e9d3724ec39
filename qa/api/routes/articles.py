from __future__ import annotations

import hashlib
import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from indexer.clean import clean_text
from qa.api.deps import EngineDep, WriteAccess
from qa.api.schemas import ArticleIn, ArticleItem, ArticlePage, ArticleWriteResult, ErrorBody
from qa.types import Article

router = APIRouter(prefix="/api/articles", tags=["articles"])

_NOT_FOUND = {404: {"model": ErrorBody}}


def _derive_id(body: ArticleIn) -> str:
    if body.url:
        return "url-" + hashlib.sha1(body.url.encode()).hexdigest()[:16]
    slug = re.sub(r"[^a-z0-9]+", "-", body.title.lower()).strip("-")[:80]
    return slug or "article-" + hashlib.sha1(body.text.encode()).hexdigest()[:16]


@router.get("", response_model=ArticlePage, summary="List indexed articles (paged, searchable)")
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
    responses=_NOT_FOUND,
    summary="One article with its full text (the text answers' offsets refer to)",
)
def get_article(article_id: str, engine: EngineDep) -> Article:
    article = engine.get_article(article_id)
    if article is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no article with id {article_id!r}")
    return article


@router.post(
    "",
    response_model=ArticleWriteResult,
    status_code=status.HTTP_201_CREATED,
    dependencies=[WriteAccess],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Add or update one article",
)
def add_article(body: ArticleIn, engine: EngineDep, response: Response) -> ArticleWriteResult:
    text = clean_text(body.text)
    if not text:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail="the article text is empty after cleaning"
        )
    article = Article(
        id=body.id or _derive_id(body),
        title=body.title.strip(),
        url=body.url,
        text=text,
        meta=body.meta,
    )
    report = engine.add([article])
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
    responses={**_NOT_FOUND, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
    summary="Delete an article and its passages",
)
def delete_article(article_id: str, engine: EngineDep) -> ArticleWriteResult:
    removed, _ = engine.remove([article_id])
    if not removed:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no article with id {article_id!r}")
    return ArticleWriteResult(id=article_id, status="deleted")
