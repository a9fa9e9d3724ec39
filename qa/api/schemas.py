"""Request and response bodies of the JSON API (the nouns themselves live in qa.types)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class AskRequest(BaseModel):
    question: str = Field(description="The question, in plain words.", examples=["Who won?"])
    k: int = Field(default=3, description="How many answers to return at most (1–20).")


class ArticleIn(BaseModel):
    """An article to add or update. Same id (or same URL) with new text replaces it."""

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="Stable id; derived from the URL or title when omitted.",
    )
    title: str = Field(min_length=1, max_length=1000)
    url: str | None = Field(default=None, max_length=4000)
    text: str = Field(min_length=1)
    meta: dict[str, Any] = Field(default_factory=dict)


class ArticleWriteResult(BaseModel):
    id: str
    status: Literal["added", "updated", "unchanged", "deleted"]
    passages: int = 0


class ArticleItem(BaseModel):
    id: str
    title: str
    url: str | None
    passages: int
    chars: int


class ArticlePage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[ArticleItem]


class Health(BaseModel):
    status: Literal["ok", "starting", "error"]
    articles: int = 0
    passages: int = 0
    detail: str | None = None


class ErrorBody(BaseModel):
    detail: str
