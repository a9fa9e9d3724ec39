"""The nouns shared by the indexer, the engine and every shell.

Article, Passage, Answer and AskResult: one definition each."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field


class Article(BaseModel):
    """One source document. ``text`` is the cleaned text we quote; every offset refers to it."""

    id: str
    title: str
    url: str | None = None
    text: str
    meta: dict[str, Any] = Field(default_factory=dict)
    source: str | None = Field(default=None, description="Where it was loaded from (file path).")
    published: str | None = Field(
        default=None,
        description="When it was published: ISO 8601, a date or a UTC date-time (null: unknown).",
    )

    def field_text(self, field: str) -> str:
        """The text an answer's offsets point into: ``text``, or ``title`` for a headline."""
        return self.title if field == "title" else self.text

    @property
    def content_hash(self) -> str:
        """Hash of what we index, so an unchanged article is recognised and skipped."""
        h = hashlib.sha256()
        # The date only when known, so articles without one keep the hashes they had.
        dated = (self.published,) if self.published else ()
        for part in (self.title, self.url or "", self.text, *dated):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()


class Passage(BaseModel):
    """A sentence-aligned window of an article: ``text == article.text[start:end]``."""

    article_id: str
    start: int
    end: int
    text: str

    @property
    def id(self) -> str:
        """Stable id from article id + offsets + content: re-indexing changes nothing."""
        key = f"{self.article_id}\x00{self.start}\x00{self.end}\x00{self.text}"
        return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


class ArticleRef(BaseModel):
    """What an answer says about its source."""

    id: str
    title: str
    url: str | None = None
    published: str | None = Field(default=None, description="ISO 8601, or null when unknown.")


class Answer(BaseModel):
    """A verbatim answer: ``text`` and ``quote`` are the article's ``field`` at their offsets
    (``article.text[start:end] == text``, or ``article.title[start:end]`` for a headline)."""

    text: str = Field(description="The short answer span, verbatim.")
    field: Literal["text", "title"] = Field(
        default="text",
        description="Which article field the offsets point into: the text, or the title "
        "(an answer quoted from the headline).",
    )
    start: int = Field(description="Offset of `text` in the article's `field`.")
    end: int
    quote: str = Field(description="The sentence(s) holding the answer, verbatim.")
    quote_start: int
    quote_end: int
    score: float = Field(description="Calibrated confidence in [0, 1].")
    article: ArticleRef
    link: str | None = Field(
        default=None,
        description="The article URL with a text fragment (#:~:text=) that opens the page "
        "scrolled to the quote; null when the article has no web URL.",
    )
    newer_than: list[str] = Field(
        default_factory=list,
        description="Ids of the articles among these answers that answer differently and were "
        "published earlier than this one's.",
    )


class AskResult(BaseModel):
    """The engine's reply to one question."""

    question: str
    found: bool
    took_ms: float
    answers: list[Answer] = Field(default_factory=list)
