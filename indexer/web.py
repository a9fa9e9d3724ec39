"""Articles from the web: a page, an RSS/Atom feed (each item's page is fetched) or a sitemap
(index files followed), read politely (:mod:`indexer.fetch`) and indexed incrementally.

What a URL is comes from its Content-Type, and from its first XML element when the type is
vague (``application/xml``): ``rss``/``feed``/``RDF`` a feed (parsed by feedparser),
``urlset``/``sitemapindex`` a sitemap (parsed by ultimate-sitemap-parser). Anything else that
is not HTML is refused with its type. Pages become articles through
:func:`indexer.load.load_html` (trafilatura: main text, title, date, author, canonical URL);
a feed's date is the article's when the page names none.

Every URL fetched is remembered in the index (:class:`~indexer.stores.base.UrlSource`): its ETag
and Last-Modified for conditional requests, the hash of its body, the feed or sitemap it came
from. A page that answers 304, or sends the same bytes again, is not even parsed; a changed
page is re-indexed, and only its new passages embedded. Pages that leave a feed keep their
articles (a feed shows only the latest items).

>>> with Fetcher() as fetcher:  # doctest: +SKIP
...     report = index_urls(indexer, [("https://example.org/feed.xml", False)], lambda _: fetcher)
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin

from core.types import Article
from indexer.fetch import Fetched, Fetcher, FetchError
from indexer.load import LoadError, decode_text, load_html
from indexer.pipeline import AddReport, Indexer, Progress
from indexer.stores.base import Store, UrlSource

log = logging.getLogger(__name__)
# ultimate-sitemap-parser logs a warning for every odd sitemap; our report says what failed.
logging.getLogger("usp").setLevel(logging.ERROR)

PAGE, FEED, SITEMAP = "page", "feed", "sitemap"
MAX_SITEMAP_DEPTH = 3  # sitemap index -> sitemap index -> sitemap
MAX_SITEMAPS = 100  # sitemap files read per URL given
DEFAULT_MAX_PAGES = 500  # pages read per URL given (a feed's items, a sitemap's pages)

_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/rdf+xml"}
_XML_TYPES = {"application/xml", "text/xml", "application/x-xml"}
_GZIP_TYPES = {"application/gzip", "application/x-gzip"}
_VAGUE_TYPES = {"", "application/octet-stream", "text/plain"}
_GZIP_MAGIC = b"\x1f\x8b"
_FIRST_ELEMENT = re.compile(rb"<\s*([A-Za-z_][\w.:-]*)")
_SKIPPED_PROLOGUE = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>|\s)*", re.DOTALL)

# What a page that could not be indexed is remembered without: it is fetched whole next time.
_FORGOTTEN = {"etag": None, "last_modified": None, "content_hash": None, "article_id": None}
FetcherFor = Callable[[bool], Fetcher]  # allow_private -> a fetcher with that policy


class _NotIndexable(Exception):
    """A response that is none of a page, a feed or a sitemap."""


@dataclass
class WebReport:
    """What reading URL sources did: the indexer's report, the pages left as they were (a
    304 or the same bytes), and what could not be fetched or read."""

    add: AddReport = field(default_factory=AddReport)
    not_modified: list[str] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    fetched: int = 0


def kind_of(fetched: Fetched) -> str:
    """:data:`PAGE`, :data:`FEED` or :data:`SITEMAP` (raises _NotIndexable otherwise)."""
    media = fetched.media_type
    if media in _HTML_TYPES:
        return PAGE
    if media in _FEED_TYPES:
        return FEED
    if media in _GZIP_TYPES or (media in _VAGUE_TYPES and fetched.body[:2] == _GZIP_MAGIC):
        if _first_element(_gunzip_head(fetched.body)) in ("urlset", "sitemapindex"):
            return SITEMAP  # sitemap.xml.gz
    elif media in _XML_TYPES or media in _VAGUE_TYPES:
        root = _first_element(fetched.body)
        if root in ("rss", "feed", "rdf"):
            return FEED
        if root in ("urlset", "sitemapindex"):
            return SITEMAP
        if root == "html":
            return PAGE
    raise _NotIndexable(
        f"not HTML, a feed or a sitemap (Content-Type {media or 'missing'}): not indexed"
    )


def _gunzip_head(body: bytes) -> bytes:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, 4096)
    except zlib.error:
        return b""


def _first_element(body: bytes) -> str | None:
    head = body[:4096]
    prologue = _SKIPPED_PROLOGUE.match(head)
    match = _FIRST_ELEMENT.match(head, prologue.end() if prologue else 0)
    if match is None:
        return None
    return match.group(1).decode("ascii", "replace").rsplit(":", 1)[-1].lower()


def _body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class WebReader:
    """Reads URL sources into articles for one run, remembering what it fetched.

    Args:
        store: the index (for what earlier runs fetched, and the articles it holds).
        fetcher_for: a fetcher by whether private addresses may be fetched.
        max_pages: pages read per URL given.
        max_bytes: the body limit (also for a gzipped sitemap, unpacked).
    """

    def __init__(
        self,
        store: Store,
        fetcher_for: FetcherFor,
        *,
        max_pages: int = DEFAULT_MAX_PAGES,
        max_bytes: int = 5_000_000,
    ) -> None:
        self.store = store
        self.fetcher_for = fetcher_for
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.report = WebReport()
        self.fetched: dict[str, UrlSource] = {}  # saved once the articles are indexed
        self.page_of_article: dict[str, str] = {}  # article id -> the page URL it came from
        self._seen: set[str] = set()

    # ---- entry points --------------------------------------------------------------------
    def read(self, url: str, *, allow_private: bool) -> Iterator[Article | LoadError]:
        """Articles (and load errors) of the URL given by the user, whatever it is."""
        url = urldefrag(url.strip())[0]
        budget = [self.max_pages]
        yield from self._read(url, root=True, allow_private=allow_private, budget=budget)

    # ---- one URL -------------------------------------------------------------------------
    def _read(
        self,
        url: str,
        *,
        root: bool,
        allow_private: bool,
        budget: list[int],
        parent: str | None = None,
        published: str | None = None,
        depth: int = 0,
        sitemaps: list[int] | None = None,
    ) -> Iterator:
        if url in self._seen:
            return
        self._seen.add(url)
        known = self.store.url_source(url)
        stored_article = None
        if known and known.article_id and self.store.article_dates([known.article_id]):
            stored_article = known.article_id
        # A page whose article left the index is fetched whole, to index it again.
        conditional = known is not None and (known.kind != PAGE or stored_article is not None)
        prior = known if conditional else None  # what a conditional request sends
        try:
            fetched = self.fetcher_for(allow_private).get(
                url,
                etag=prior.etag if prior else None,
                last_modified=prior.last_modified if prior else None,
            )
            self.report.fetched += 1
            unchanged = fetched.not_modified or (
                prior is not None and prior.content_hash == _body_hash(fetched.body)
            )
            # a 304 only ever answers a conditional request
            kind = prior.kind if fetched.not_modified and prior else kind_of(fetched)
        except (FetchError, _NotIndexable) as e:
            yield LoadError(url, getattr(e, "message", str(e)))
            if root:  # remembered, so that a refresh tries it again
                kind = known.kind if known else PAGE
                self.fetched[url] = UrlSource(
                    url, kind, True, None, allow_private, None, None, None, None, time.time()
                )
            return
        state = UrlSource(
            url=url,
            kind=kind,
            root=root,
            parent=parent,
            allow_private=allow_private,
            etag=fetched.etag or (prior.etag if fetched.not_modified and prior else None),
            last_modified=fetched.last_modified
            or (prior.last_modified if fetched.not_modified and prior else None),
            content_hash=(
                prior.content_hash if fetched.not_modified and prior else _body_hash(fetched.body)
            ),
            article_id=stored_article,
            checked_at=time.time(),
        )
        if kind == PAGE:
            if unchanged:
                self.report.not_modified.append(url)
                self.fetched[url] = state
                return
            if budget[0] <= 0:
                return
            budget[0] -= 1
            yield from self._page(fetched, state, published or self._stored_date(known))
            return
        self.fetched[url] = state
        sitemaps = sitemaps if sitemaps is not None else [MAX_SITEMAPS]
        children: list[_Child]
        if unchanged:
            # The list is as it was; its pages may have changed: ask each of them again.
            children = [
                _Child(child.url, None, child.kind == SITEMAP)
                for child in self.store.url_sources(parent=url)
            ]
            self.report.not_modified.append(url)
        elif kind == FEED:
            children = _feed_items(fetched)
        else:
            try:
                children = _sitemap_entries(fetched, self.max_bytes)
            except _NotIndexable as e:
                yield LoadError(url, str(e))
                return
        for child in children:
            if budget[0] <= 0:
                break
            if child.is_sitemap:
                if depth >= MAX_SITEMAP_DEPTH or sitemaps[0] <= 0:
                    yield LoadError(child.url, "sitemaps nested too deep, or too many of them")
                    continue
                sitemaps[0] -= 1
            yield from self._read(
                child.url,
                root=False,
                allow_private=allow_private,
                budget=budget,
                parent=url,
                published=child.published,
                depth=depth + 1,
                sitemaps=sitemaps,
            )

    def _page(self, fetched: Fetched, state: UrlSource, published: str | None) -> Iterator:
        html = decode_text(fetched.body, fetched.charset)
        article = load_html(html, url=fetched.url, published=published)
        if isinstance(article, LoadError):
            yield LoadError(state.url, article.message)
            if state.root:  # remembered without validators, for a refresh to try again
                self.fetched[state.url] = UrlSource(**{**state.__dict__, **_FORGOTTEN})
            return
        self.fetched[state.url] = UrlSource(**{**state.__dict__, "article_id": article.id})
        self.page_of_article[article.id] = state.url
        yield article

    def _stored_date(self, known: UrlSource | None) -> str | None:
        """The date an earlier run stored for this page's article (a feed's, maybe)."""
        if known is None or not known.article_id:
            return None
        return self.store.article_dates([known.article_id]).get(known.article_id)

    # ---- after indexing ------------------------------------------------------------------
    def save(self, add: AddReport) -> None:
        """Remember what was fetched. A page whose article was not indexed is remembered
        without validators (only when the user gave it, for a refresh to try again): it is
        fetched whole and reported again next time."""
        indexed = set(add.added) | set(add.updated) | set(add.unchanged)
        failed_pages = {
            url for article_id, url in self.page_of_article.items() if article_id not in indexed
        }
        self.store.save_url_sources(
            UrlSource(**{**s.__dict__, **_FORGOTTEN}) if url in failed_pages else s
            for url, s in self.fetched.items()
            if url not in failed_pages or s.root
        )


@dataclass(frozen=True)
class _Child:
    """A URL found in a feed or a sitemap."""

    url: str
    published: str | None  # a feed item's date
    is_sitemap: bool  # listed by a sitemap index


def _feed_items(fetched: Fetched) -> list[_Child]:
    """A feed's items (their page URL and date), in feed order, without repeats."""
    import feedparser  # imported here: only feeds need it

    from indexer.dates import normalize_published

    parsed = feedparser.parse(fetched.body)
    items: dict[str, str | None] = {}
    for entry in parsed.entries:
        link = entry.get("link") or next(
            (x.get("href") for x in entry.get("links", []) if x.get("href")), None
        )
        if not link:
            continue
        url = urldefrag(urljoin(fetched.url, link))[0]
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        items.setdefault(url, normalize_published(when) if when else None)
    return [_Child(url, published, False) for url, published in items.items()]


def _sitemap_entries(fetched: Fetched, max_bytes: int) -> list[_Child]:
    """An index's sitemaps, or a sitemap's pages."""
    from usp.objects.sitemap import IndexXMLSitemap, InvalidSitemap
    from usp.tree import sitemap_from_str

    body = fetched.body
    if body[:2] == _GZIP_MAGIC:  # a gzipped sitemap (sitemap.xml.gz)
        unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = unpacker.decompress(body, max_bytes)
        except zlib.error as e:
            raise _NotIndexable(f"a broken gzip file: {e}") from None
        if unpacker.unconsumed_tail:
            raise _NotIndexable(f"unpacks to over {max_bytes:,} bytes (QA_FETCH_MAX_BYTES)")
    parsed = sitemap_from_str(decode_text(body, fetched.charset))
    if isinstance(parsed, IndexXMLSitemap):
        return [_Child(urljoin(fetched.url, sub.url), None, True) for sub in parsed.sub_sitemaps]
    if isinstance(parsed, InvalidSitemap):
        raise _NotIndexable(f"not a sitemap that can be read: {parsed.reason}")
    pages = dict.fromkeys(urldefrag(urljoin(fetched.url, p.url))[0] for p in parsed.all_pages())
    return [_Child(url, None, False) for url in pages]


# ---- indexing -----------------------------------------------------------------------------


def index_urls(
    indexer: Indexer,
    sources: Sequence[tuple[str, bool]],
    fetcher_for: FetcherFor,
    *,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_bytes: int = 5_000_000,
    on_planned: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    update_bm25: bool = True,
) -> WebReport:
    """Fetch URLs (pages, feeds, sitemaps) and index their new or changed pages.

    Args:
        indexer: writes to the index.
        sources: (URL, whether it may be on a private or loopback address) pairs: URLs the
            user gives, or :func:`url_roots` to re-read them.
        fetcher_for: a fetcher by whether private addresses may be fetched.
        max_pages, max_bytes: see :class:`WebReader`.
        on_planned, progress, update_bm25: as for :meth:`Indexer.add`.
    """
    reader = WebReader(indexer.store, fetcher_for, max_pages=max_pages, max_bytes=max_bytes)

    def items() -> Iterator[Article | LoadError]:
        for url, ok in sources:
            yield from reader.read(url, allow_private=ok)

    add = indexer.add(items(), on_planned=on_planned, progress=progress, update_bm25=update_bm25)
    reader.save(add)
    report = reader.report
    report.add = add
    report.errors = list(add.errors)
    add.errors = []
    return report


def url_roots(store: Store) -> list[tuple[str, bool]]:
    """Every URL the user gave, with the address rule it was given under (for a refresh)."""
    return [(root.url, root.allow_private) for root in store.url_sources(roots_only=True)]


__all__ = [
    "FEED",
    "PAGE",
    "SITEMAP",
    "WebReader",
    "WebReport",
    "index_urls",
    "kind_of",
    "url_roots",
]
