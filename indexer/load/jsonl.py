"""JSON Lines (``.jsonl``): one article a line, ``{"id", "title", "url", "text", "published",
...}`` (``published``: an ISO 8601 date, optional); other keys go to ``meta``. The text is
only *repaired* (:func:`~core.text.clean.repair_text`), never reflowed, so prepared text and
offsets that come with it (``paragraph_spans``) stay valid. A bad line is reported with its
number; the other lines are still loaded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.text.clean import repair_text
from core.types import Article
from indexer.dates import DateError, normalize_published
from indexer.load.base import (
    SNIFF_BYTES,
    LoadError,
    LoadProblem,
    first_line,
    has_words,
    register,
    too_big,
)


@register(".jsonl")
def _load_jsonl(path: Path, doc_id: str, max_bytes: int) -> Iterator[Article | LoadError]:
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
        if b"\x00" in head:
            raise LoadProblem("looks like a binary file")
        if not head.strip():
            raise LoadProblem("file is empty")
        f.seek(0)
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield _jsonl_article(path, doc_id, n, raw, max_bytes)
            except LoadProblem as e:
                yield LoadError(str(path), str(e), line=n)


def _jsonl_article(path: Path, doc_id: str, n: int, raw: bytes, max_bytes: int) -> Article:
    if len(raw) > max_bytes:
        raise LoadProblem(too_big(f"the article on line {n}", len(raw), max_bytes))
    try:
        line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
    except UnicodeDecodeError as e:
        raise LoadProblem(f"line {n} is not valid UTF-8 (byte {e.start + 1})") from e
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise LoadProblem(f"invalid JSON on line {n}: {e.msg} (column {e.colno})") from e
    if not isinstance(record, dict):
        raise LoadProblem(f"line {n}: expected a JSON object, got {type(record).__name__}")
    text = record.pop("text", None)
    if not isinstance(text, str) or not text.strip():
        raise LoadProblem(f'line {n}: missing "text"')
    text = repair_text(text)
    if not has_words(text):
        raise LoadProblem(f'line {n}: "text" is empty after cleaning')
    article_id = record.pop("id", None)
    title = record.pop("title", None)
    url = record.pop("url", None)
    published = record.pop("published", None)
    if published is not None and not isinstance(published, str):
        raise LoadProblem(f'line {n}: "published" must be an ISO 8601 date string')
    try:
        published = normalize_published(published) if published else None
    except DateError as e:
        raise LoadProblem(f'line {n}: "published": {e}') from None
    meta: dict[str, Any] = {}
    if isinstance(record.get("meta"), dict):
        meta.update(record.pop("meta"))  # our own export format nests meta
    meta.update(record)
    return Article(
        id=str(article_id) if article_id not in (None, "") else f"{doc_id}-{n}",
        title=first_line(str(title)) if title else first_line(text),
        url=str(url) if url else None,
        text=text,
        meta=meta,
        source=str(path),
        published=published,
    )
