"""JSON Lines (``.jsonl``): one article a line, ``{"id", "title", "url", "text", "published",
...}`` (``published``: an ISO 8601 date, optional; an ISO 8601 ``date`` stands for it), each
made an article by :func:`~indexer.load.record.article_from_record`, as ``POST /api/articles``
does: the text is only repaired, never reflowed, so prepared text and offsets that come
with it (``paragraph_spans``) stay valid; other keys go to ``meta``. A line without an id or
URL is ``<file id>-<line>``. A bad line is reported with its number; the other lines are
still loaded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from core.types import Article
from indexer.load.base import (
    SNIFF_BYTES,
    LoadError,
    LoadProblem,
    register,
    too_big,
)
from indexer.load.record import article_from_record


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
    try:
        return article_from_record(record, source=str(path), default_id=f"{doc_id}-{n}")
    except LoadProblem as e:
        raise LoadProblem(f"line {n}: {e}") from None
