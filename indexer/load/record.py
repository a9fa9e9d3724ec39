"""One record → one :class:`~core.types.Article`: the JSONL loader and ``POST /api/articles``
both build their articles here, so an article gets the same stored text, id and hash however
it arrives.

A record is a mapping ``{"id"?, "title"?, "url"?, "text", "published"?, "meta"?, ...}``; keys
it does not name go to ``meta`` (a nested ``"meta"`` object is merged first). Without
``published``, an ISO 8601 ``"date"`` is the publish date. Its text is
prepared by whoever sent it, so it is only *repaired* (:func:`~core.text.clean.repair_text`:
mojibake, newline styles, control characters), never reflowed: text that needs no repair is
stored byte for byte, and offsets the sender holds into it stay valid. (Files and web pages
are extracted, then cleaned with :func:`~core.text.clean.clean_text`.)

>>> article_from_record({"title": "Budget", "text": "The council met.\\r\\nIt voted."}).text
'The council met.\\nIt voted.'
>>> article_from_record({"url": "https://example.com/a", "text": "Hi."}).id
'url-c4ed1c218d14a0f1'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from core.text.clean import repair_text
from core.types import Article
from indexer.dates import DateError, normalize_published
from indexer.load.base import LoadProblem, first_line, has_words

_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_MAX_SLUG = 80


def article_from_record(
    record: Mapping[str, Any], *, source: str | None = None, default_id: str | None = None
) -> Article:
    """The article a record describes.

    Its id is the record's ``id``; else, with a ``url``, :func:`article_id_for_url`; else
    ``default_id`` (a JSONL file's ``<file>-<line>``); else the title's slug, or a hash of
    the text when the title has no letters or digits. Its title is the record's first line
    (shortened), else the text's.

    Raises:
        LoadProblem: no text, no words left after repair, or a ``published`` that is not an
            ISO 8601 date; the message names the field.
    """
    rest = dict(record)
    text = rest.pop("text", None)
    if not isinstance(text, str) or not text.strip():
        raise LoadProblem('missing "text"')
    text = repair_text(text)
    if not has_words(text):
        raise LoadProblem('"text" is empty after cleaning')
    given_id = rest.pop("id", None)
    title = rest.pop("title", None)
    url = rest.pop("url", None)
    published = rest.pop("published", None)
    if published is not None and not isinstance(published, str):
        raise LoadProblem('"published" must be an ISO 8601 date string')
    try:
        published = normalize_published(published) if published else None
    except DateError as e:
        raise LoadProblem(f'"published": {e}') from None
    if published is None:
        published = _date_alias(rest)
    meta: dict[str, Any] = {}
    if isinstance(rest.get("meta"), dict):
        meta.update(rest.pop("meta"))  # our own export format nests meta
    meta.update(rest)
    url = str(url) if url else None
    title = first_line(str(title)) if title else first_line(text)
    if given_id not in (None, ""):
        article_id = str(given_id)
    elif url:
        article_id = article_id_for_url(url)
    elif default_id:
        article_id = default_id
    else:
        slug = _SLUG_CHARS.sub("-", title.lower()).strip("-")[:_MAX_SLUG]
        article_id = slug or "article-" + hashlib.sha1(text.encode()).hexdigest()[:16]
    return Article(
        id=article_id,
        title=title,
        url=url,
        text=text,
        meta=meta,
        source=source,
        published=published,
    )


def _date_alias(rest: dict[str, Any]) -> str | None:
    """The publish date from a ``"date"`` key (scraped news often names it so), taken out of
    ``rest`` when it is ISO 8601; any other value stays in meta as it was."""
    value = rest.get("date")
    if not isinstance(value, str):
        return None
    try:
        published = normalize_published(value)
    except DateError:
        return None
    del rest["date"]
    return published


def article_id_for_url(url: str) -> str:
    """The id of an article known by its URL: ``url-`` and a hash of the URL."""
    return "url-" + hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]
