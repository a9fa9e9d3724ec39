"""Request and response bodies of the JSON API (the nouns themselves live in qa.types)."""

from __future__ import annotations

import json
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from indexer.dates import normalize_published

_ERROR_DESCRIPTIONS = {
    400: "The body could not be parsed (not UTF-8, or nested too deeply).",
    401: "The request needs `Authorization: Bearer <QA_API_KEY>`.",
    403: "The API key is wrong.",
    404: "No such article.",
    409: "An article with the id derived from this title exists with other text: send an id.",
    413: "The request body is over the size limit (QA_MAX_BODY_BYTES).",
    415: "The body is not sent as JSON (`Content-Type: application/json`).",
    422: "The request is invalid; `detail` says why.",
    503: "The engine is still starting (or failed to start); retry after `Retry-After`.",
    507: "The disk holding the index is full: nothing was written.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error codes a route can answer, all :class:`ErrorBody`."""
    return {code: {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[code]} for code in codes}


def _check_unicode(value: Any) -> None:
    """Lone UTF-16 surrogates (``"\\ud800"`` in JSON) are not text: they cannot be stored,
    embedded or quoted, so they are refused here rather than failing deep inside."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone surrogate (\\ud800-\\udfff): not valid Unicode") from None


class AskRequest(BaseModel):
    question: str = Field(description="The question, in plain words.", examples=["Who won?"])
    k: int = Field(default=3, description="How many answers to return at most (1–20).")
    history: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="The earlier questions of the conversation, oldest first (at most 10): "
        "a follow-up such as 'How many of them were foreigners?' is resolved against them.",
        examples=[["How many people has Pakistan arrested?"]],
    )
    since: str | None = Field(
        default=None,
        max_length=40,
        description="Search only articles published on or after this ISO 8601 date.",
        examples=["2017-01-01"],
    )
    until: str | None = Field(
        default=None,
        max_length=40,
        description="Search only articles published on or before this ISO 8601 date "
        "(a date includes that whole day).",
        examples=["2016-12-31"],
    )


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
    text: str = Field(
        min_length=1,
        description="Stored as sent, only repaired (mojibake, newline styles, control "
        "characters), as a line of a .jsonl file is: answers' offsets refer to it.",
    )
    meta: dict[str, Any] = Field(default_factory=dict)
    published: str | None = Field(
        default=None, max_length=40, description="When it was published (ISO 8601)."
    )

    @field_validator("published")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        return normalize_published(value) if value else None

    @field_validator("id", "title")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must not be blank")
        # C0/C1 controls (U+0085 too) and line or paragraph separators.
        if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
            raise ValueError("must not contain control characters or line breaks")
        return value

    @field_validator("id")
    @classmethod
    def _visible(cls, value: str | None) -> str | None:
        # An id is typed and compared: invisible format characters (zero-width spaces, bidi
        # overrides) or unassigned code points would make two ids look alike.
        if value is not None and any(
            unicodedata.category(ch) in ("Cf", "Co", "Cn") for ch in value
        ):
            raise ValueError("must not contain invisible, private-use or unassigned characters")
        return value

    @field_validator("id")
    @classmethod
    def _addressable(cls, value: str | None) -> str | None:
        # URLs drop "." and ".." segments, so such an id could never be read or deleted.
        if value is not None and any(part in (".", "..") for part in value.split("/")):
            raise ValueError("must not have '.' or '..' path segments")
        return value

    @model_validator(mode="after")
    def _valid_unicode(self) -> ArticleIn:
        _check_unicode(self.model_dump())
        return self


class FeedbackIn(BaseModel):
    """Whether an answer helped, as ``POST /api/feedback`` takes it."""

    question: str = Field(min_length=1, max_length=2000, description="The question asked.")
    answer_text: str = Field(min_length=1, max_length=2000, description="The answer's `text`.")
    article_id: str = Field(min_length=1, max_length=512, description="The answer's article.")
    helpful: bool
    comment: str | None = Field(default=None, max_length=2000)
    start: int | None = Field(
        default=None, ge=0, description="The answer's `start`, so the test set has its offset."
    )
    channel: Literal["web", "slack", "api"] = Field(
        default="api", description="Where the feedback was given."
    )

    @model_validator(mode="after")
    def _valid_unicode(self) -> FeedbackIn:
        _check_unicode(self.model_dump())
        return self


class SourcesIn(BaseModel):
    urls: list[str] = Field(
        min_length=1,
        max_length=20,
        description="http(s) URLs of pages, RSS/Atom feeds or sitemaps, e.g. "
        '["https://news.example/feed.xml"].',
    )

    @field_validator("urls")
    @classmethod
    def _web_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if len(url) > 4000 or not url.lower().startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL (at most 4,000 characters): {url[:100]!r}")
        return [url.strip() for url in urls]


class SourceError(BaseModel):
    url: str
    message: str


class SourcesResult(BaseModel):
    added: list[str] = Field(description="Ids of the articles added.")
    updated: list[str]
    unchanged: list[str]
    not_modified: list[str] = Field(description="URLs that answered 304 or the same bytes.")
    errors: list[SourceError]
    passages_embedded: int


class FeedbackOut(BaseModel):
    id: int
    created_at: str = Field(description="ISO 8601, UTC.")
    question: str
    answer_text: str
    article_id: str
    start: int | None
    helpful: bool
    comment: str | None
    channel: str


class FeedbackPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[FeedbackOut]


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
