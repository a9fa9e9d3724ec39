"""HTML (``.html``, ``.htm``): the main text by trafilatura; title and URL from the page
metadata (canonical link), else ``<title>``."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

from core.types import Article
from indexer.clean import clean_text
from indexer.load.base import LoadProblem, first_line, has_words, register, text_loader

_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HTML_NOSCRIPT = re.compile(r"<noscript\b.*?</noscript\s*>", re.IGNORECASE | re.DOTALL)
_HTML_LINK = re.compile(r"<a\b[^>]*>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")


def from_html(path: Path, doc_id: str, html: str) -> Article:
    import trafilatura  # imported here: it is slow to import and only HTML needs it

    # <noscript> holds "please enable JavaScript", never the article.
    body = trafilatura.extract(
        _HTML_NOSCRIPT.sub("", html),
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    # trafilatura puts one "\n" between blocks; we separate paragraphs by a blank line.
    text = clean_text((body or "").replace("\n", "\n\n"))
    if not has_words(text) or _only_link_text(text, html):
        raise LoadProblem("no main text found in the HTML (only scripts/navigation?)")
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title if metadata is not None else None
    if not title and (m := _HTML_TITLE.search(html)):
        title = clean_text(m.group(1))
    meta: dict[str, Any] = {}
    if metadata is not None:
        if metadata.author:
            meta["byline"] = metadata.author
        if metadata.date:
            meta["date"] = metadata.date
    return Article(
        id=doc_id,
        title=first_line(title or "") or first_line(text),
        url=metadata.url if metadata is not None else None,
        text=text,
        meta=meta,
        source=str(path),
    )


def _only_link_text(text: str, html: str) -> bool:
    """Whether every paragraph extracted is the text of a link: a menu, not an article."""
    links = {
        " ".join(unescape(_HTML_TAG.sub(" ", m)).split()).casefold()
        for m in _HTML_LINK.findall(html)
    }
    paragraphs = [" ".join(p.split()).casefold() for p in text.split("\n") if p.strip()]
    return all(p in links for p in paragraphs)


register(".html", ".htm")(text_loader(from_html))
