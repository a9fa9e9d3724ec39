"""HTML (``.html``, ``.htm``): the main text by trafilatura; title and URL from the page
metadata (canonical link), else ``<title>``."""

from __future__ import annotations

import re
from html import escape, unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.text.clean import clean_text
from core.types import Article
from indexer.dates import DateError, normalize_published
from indexer.load.base import LoadError, LoadProblem, first_line, has_words, register, text_loader
from indexer.load.record import article_id_for_url

_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HTML_NOSCRIPT = re.compile(r"<noscript\b.*?</noscript\s*>", re.IGNORECASE | re.DOTALL)
_HTML_LINK = re.compile(r"<a\b[^>]*>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")


def load_html(
    html: str, *, url: str, published: str | None = None, doc_id: str | None = None
) -> Article | LoadError:
    """A web page fetched from ``url`` as an article (main text and metadata by trafilatura),
    or a :class:`LoadError` naming the URL.

    The article's URL is the page's canonical URL when it is on the same host (another
    host's would let a page replace that host's articles), else ``url``; its id is derived
    from that URL (:func:`article_id_for_url`) unless ``doc_id`` is given. ``published``
    (from a feed, say) is used when the page itself names no date.
    """
    try:
        article = from_html(Path(url), doc_id or "", html, page_url=url)
    except LoadProblem as e:
        return LoadError(url, str(e))
    except Exception as e:  # a bad page must not stop the others
        return LoadError(url, f"unexpected error: {type(e).__name__}: {e}")
    if article.url is None or _host(article.url) != _host(url):
        article.url = url
    article.source = url
    if not doc_id:
        article.id = article_id_for_url(article.url)
    if article.published is None and published:
        article.published = normalize_published(published)
    return article


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def from_html(path: Path, doc_id: str, html: str, page_url: str | None = None) -> Article:
    import trafilatura  # imported here: it is slow to import and only HTML needs it
    from trafilatura.settings import set_date_params

    # <noscript> holds "please enable JavaScript", never the article.
    page = _HTML_NOSCRIPT.sub("", html)
    options: dict[str, Any] = {
        "include_comments": False,
        "include_tables": False,
        "favor_precision": True,
    }
    body = trafilatura.extract(page, **options)
    if not body:
        # lxml stops reading a tree nested deeper than 255 elements: flatten the excess.
        flat = _FlatteningParser.flatten(page)
        if flat is not None:
            body = trafilatura.extract(flat, **options)
    # trafilatura puts one "\n" between blocks; we separate paragraphs by a blank line.
    text = clean_text((body or "").replace("\n", "\n\n"))
    if not has_words(text) or _only_link_text(text, html):
        raise LoadProblem("no main text found in the HTML (only scripts/navigation?)")
    # Dates from the page's markup only (meta tags, <time>, JSON-LD): the extensive search
    # also reads free text, and makes "2016-01-01" of a footer's "Copyright 2016".
    metadata = trafilatura.extract_metadata(
        html, default_url=page_url, date_config=set_date_params(False)
    )
    title = metadata.title if metadata is not None else None
    if not title and (m := _HTML_TITLE.search(html)):
        title = clean_text(m.group(1))
    meta: dict[str, Any] = {}
    published = None
    if metadata is not None:
        if metadata.author:
            meta["byline"] = metadata.author
        if metadata.date:
            try:
                published = normalize_published(metadata.date)
            except DateError:
                published = None  # an odd date in the markup does not lose the article
    return Article(
        id=doc_id,
        title=first_line(title or "") or first_line(text),
        url=metadata.url if metadata is not None else None,
        text=text,
        meta=meta,
        source=str(path),
        published=published,
    )


class _FlatteningParser(HTMLParser):
    """Rewrites HTML with the elements nested deeper than ``MAX_DEPTH`` unwrapped (their
    text kept, a line break for each deep block boundary). ``html.parser`` builds no tree,
    so it has no depth limit."""

    MAX_DEPTH = 100
    VOID = frozenset(
        [
            "area",
            "base",
            "br",
            "col",
            "embed",
            "hr",
            "img",
            "input",
            "link",
            "meta",
            "param",
            "source",
            "track",
            "wbr",
        ]
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropped = False

    @classmethod
    def flatten(cls, html: str) -> str | None:
        """The flattened HTML, or None when nothing was nested too deep."""
        parser = cls()
        parser.feed(html)
        parser.close()
        return "".join(parser.out) if parser.dropped else None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            self.out.append(self.get_starttag_text() or "")
            return
        self.open.append(tag)
        if len(self.open) <= self.MAX_DEPTH:
            self.out.append(self.get_starttag_text() or "")
        else:
            self.dropped = True
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.open:
            return  # a stray end tag
        while self.open:
            depth = len(self.open)
            name = self.open.pop()
            self.out.append(f"</{name}>" if depth <= self.MAX_DEPTH else "\n")
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        self.out.append(escape(data, quote=False))


def _only_link_text(text: str, html: str) -> bool:
    """Whether every paragraph extracted is the text of a link: a menu, not an article."""
    links = {
        " ".join(unescape(_HTML_TAG.sub(" ", m)).split()).casefold()
        for m in _HTML_LINK.findall(html)
    }
    paragraphs = [" ".join(p.split()).casefold() for p in text.split("\n") if p.strip()]
    return all(p in links for p in paragraphs)


register(".html", ".htm")(text_loader(from_html))
