"""Web sources end to end against a real local site: feeds, sitemaps (index files followed),
pages; conditional requests and content hashes keep a second run from re-embedding."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from indexer.sources import add_urls, refresh
from qa.engine import Engine
from qa.settings import Settings
from tests.indexer.site import LocalSite, Route, article_page, rss

ARRESTS = [
    "Pakistan's military on Thursday said it has crushed Islamic State's attempt to expand.",
    "Pakistani authorities have so far arrested 309 people associated with Islamic State (IS)"
    " on its territory, he said.",
    "Most of those captured were established jihadists, but about 25 were foreigners"
    " including Afghans and some Syrians, he said.",
]
FERRY = [
    "The harbour ferry carried 4,812 passengers on Sunday, the port said.",
    "Gulls followed it all the way across the bay.",
]
ZOO = ["The zoo in Springfield got three new capybaras on Monday, keepers said."]


def engine_at(directory: Path) -> Engine:
    return Engine(Settings(index_dir=directory, reader="heuristic", fetch_host_interval_s=0.0))


def publish(site: LocalSite, *, with_zoo: bool = False) -> None:
    """Two pages (three with the zoo) and a feed of them; the ferry page names no date."""
    site.routes["/news/arrests.html"] = Route(
        article_page("Pakistan arrests 309", ARRESTS, published="2016-09-08T10:00:00+05:00"),
        etag='"arrests-1"',
    )
    site.routes["/news/ferry.html"] = Route(
        article_page("Ferry record", FERRY), last_modified="Sun, 11 Sep 2016 18:00:00 GMT"
    )
    items = [
        ("Arrests", "/news/arrests.html", "Thu, 08 Sep 2016 05:00:00 GMT"),
        ("Ferry", site.url("/news/ferry.html"), "Sun, 11 Sep 2016 18:00:00 GMT"),
    ]
    if with_zoo:
        site.routes["/news/zoo.html"] = Route(article_page("Capybaras", ZOO), etag='"zoo-1"')
        items.insert(0, ("Zoo", "/news/zoo.html", "Mon, 03 Oct 2016 09:00:00 GMT"))
    site.routes["/feed.xml"] = Route(rss(items), content_type="application/rss+xml")


def test_a_feed_indexes_its_pages_without_chrome_and_with_dates(
    site: LocalSite, tmp_path: Path
) -> None:
    publish(site)
    engine = engine_at(tmp_path)
    report = add_urls(*_target(engine), [site.url("/feed.xml")], allow_private=True)
    assert report.errors == [] and len(report.add.added) == 2
    arrests = engine.get_article(engine.store.url_source(site.url("/news/arrests.html")).article_id)
    ferry = engine.get_article(engine.store.url_source(site.url("/news/ferry.html")).article_id)
    assert arrests.url == site.url("/news/arrests.html")
    assert arrests.title == "Pakistan arrests 309"
    assert arrests.published == "2016-09-08"  # the page's own date
    assert ferry.published == "2016-09-11T18:00:00Z"  # the feed's: the page names none
    for noise in ("Home", "Weather", "Most read", "Council approves", "All rights", "Privacy"):
        assert noise not in arrests.text
    assert ARRESTS[1] in arrests.text
    answer = engine.ask("How many people has Pakistan arrested?").answers[0]
    assert answer.text == "309" and answer.article.published == "2016-09-08"
    assert answer.link.startswith(site.url("/news/arrests.html") + "#:~:text=")
    roots = engine.store.url_sources(roots_only=True)
    assert [(r.url, r.kind) for r in roots] == [(site.url("/feed.xml"), "feed")]


def test_a_second_run_is_answered_by_304s_and_embeds_nothing(
    site: LocalSite, tmp_path: Path
) -> None:
    publish(site)
    engine = engine_at(tmp_path)
    add_urls(*_target(engine), [site.url("/feed.xml")], allow_private=True)
    passages = engine.counts()[1]
    again = add_urls(*_target(engine), [site.url("/feed.xml")], allow_private=True)
    assert again.add.passages_embedded == 0 and again.add.added == again.add.updated == []
    assert set(again.not_modified) == {
        site.url("/feed.xml"),  # the same bytes
        site.url("/news/arrests.html"),  # 304 to If-None-Match
        site.url("/news/ferry.html"),  # 304 to If-Modified-Since
    }
    arrests, ferry = site.requests("/news/arrests.html"), site.requests("/news/ferry.html")
    assert arrests[-1].headers["if-none-match"] == '"arrests-1"' and arrests[-1].status == 304
    assert ferry[-1].headers["if-modified-since"] == "Sun, 11 Sep 2016 18:00:00 GMT"
    assert ferry[-1].status == 304
    assert engine.counts()[1] == passages


def test_a_longer_feed_adds_only_the_new_page_and_a_changed_page_is_updated(
    site: LocalSite, tmp_path: Path
) -> None:
    publish(site)
    engine = engine_at(tmp_path)
    add_urls(*_target(engine), [site.url("/feed.xml")], allow_private=True)
    publish(site, with_zoo=True)
    longer = refresh(*_target(engine))
    assert len(longer.add.added) == 1 and longer.add.updated == []
    assert longer.add.passages_embedded == 1  # the zoo page: one short passage
    assert engine.ask("How many capybaras did the zoo get?").answers[0].text == "three"

    # The arrests page changes (a new ETag): it is updated; its other pages stay as they were.
    changed = article_page(
        "Pakistan arrests 309", [*ARRESTS, "The army said more arrests would follow."]
    )
    site.routes["/news/arrests.html"] = Route(changed, etag='"arrests-2"')
    update = refresh(*_target(engine))
    assert len(update.add.updated) == 1 and update.add.added == []
    article = engine.get_article(update.add.updated[0])
    assert "more arrests would follow" in article.text
    assert article.published == "2016-09-08"  # kept: the page names no date any more
    assert site.url("/news/zoo.html") in update.not_modified


def test_a_page_removed_from_the_index_is_fetched_whole_again(
    site: LocalSite, tmp_path: Path
) -> None:
    publish(site)
    engine = engine_at(tmp_path)
    add_urls(*_target(engine), [site.url("/news/arrests.html")], allow_private=True)
    article_id = engine.store.url_source(site.url("/news/arrests.html")).article_id
    engine.remove([article_id])
    again = add_urls(*_target(engine), [site.url("/news/arrests.html")], allow_private=True)
    assert again.add.added == [article_id]
    assert "if-none-match" not in site.requests("/news/arrests.html")[-1].headers


def test_a_sitemap_index_is_followed_to_its_pages(site: LocalSite, tmp_path: Path) -> None:
    publish(site, with_zoo=True)
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    site.routes["/sitemap.xml"] = Route(
        f'<?xml version="1.0"?><sitemapindex {ns}>'
        f"<sitemap><loc>{site.url('/sitemap-news.xml')}</loc></sitemap>"
        f"<sitemap><loc>{site.url('/sitemap-zoo.xml.gz')}</loc></sitemap>"
        "</sitemapindex>".encode(),
        content_type="application/xml",
    )
    site.routes["/sitemap-news.xml"] = Route(
        f'<?xml version="1.0"?><urlset {ns}>'
        f"<url><loc>{site.url('/news/arrests.html')}</loc><lastmod>2016-09-08</lastmod></url>"
        f"<url><loc>{site.url('/news/ferry.html')}</loc></url></urlset>".encode(),
        content_type="text/xml",
    )
    site.routes["/sitemap-zoo.xml.gz"] = Route(
        gzip.compress(
            f'<?xml version="1.0"?><urlset {ns}>'
            f"<url><loc>{site.url('/news/zoo.html')}</loc></url></urlset>".encode()
        ),
        content_type="application/gzip",
    )
    engine = engine_at(tmp_path)
    report = add_urls(*_target(engine), [site.url("/sitemap.xml")], allow_private=True)
    assert report.errors == [] and len(report.add.added) == 3
    kinds = {s.url.rsplit("/", 1)[1]: s.kind for s in engine.store.url_sources()}
    assert kinds == {
        "sitemap.xml": "sitemap",
        "sitemap-news.xml": "sitemap",
        "sitemap-zoo.xml.gz": "sitemap",
        "arrests.html": "page",
        "ferry.html": "page",
        "zoo.html": "page",
    }


def test_sitemaps_nested_too_deep_are_reported(site: LocalSite, tmp_path: Path) -> None:
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    for n in range(6):
        site.routes[f"/s{n}.xml"] = Route(
            f'<?xml version="1.0"?><sitemapindex {ns}><sitemap><loc>'
            f"{site.url(f'/s{n + 1}.xml')}</loc></sitemap></sitemapindex>".encode(),
            content_type="application/xml",
        )
    report = add_urls(*_target(engine_at(tmp_path)), [site.url("/s0.xml")], allow_private=True)
    assert [(e.path, e.message) for e in report.errors] == [
        (site.url("/s4.xml"), "sitemaps nested too deep, or too many of them")
    ]
    assert not site.requests("/s4.xml")


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/pdf", b"%PDF-1.7 ...", "Content-Type application/pdf"),
        ("application/json", b'{"a": 1}', "Content-Type application/json"),
        ("image/png", b"\x89PNG...", "Content-Type image/png"),
        ("application/xml", b"<?xml version='1.0'?><catalog/>", "Content-Type application/xml"),
    ],
)
def test_what_is_not_html_a_feed_or_a_sitemap_is_refused_clearly(
    site: LocalSite, tmp_path: Path, content_type: str, body: bytes, message: str
) -> None:
    site.routes["/thing"] = Route(body, content_type=content_type)
    publish(site)
    site.routes["/feed.xml"] = Route(
        rss([("Thing", "/thing", "Thu, 08 Sep 2016 05:00:00 GMT")]),
        content_type="application/rss+xml",
    )
    engine = engine_at(tmp_path)
    for url in (site.url("/thing"), site.url("/feed.xml")):  # given, or found in a feed
        report = add_urls(*_target(engine), [url], allow_private=True)
        (error,) = report.errors
        assert error.path == site.url("/thing")
        assert error.message == f"not HTML, a feed or a sitemap ({message}): not indexed"
    assert engine.counts() == (0, 0)


def test_a_page_without_text_is_reported_each_time(site: LocalSite, tmp_path: Path) -> None:
    site.routes["/empty.html"] = Route(b"<html><body><nav><a href='/'>Home</a></nav></body></html>")
    engine = engine_at(tmp_path)
    for _ in range(2):
        (error,) = add_urls(*_target(engine), [site.url("/empty.html")], allow_private=True).errors
        assert "no main text found" in error.message
    remembered = engine.store.url_source(site.url("/empty.html"))
    assert remembered.root and remembered.content_hash is None  # tried again by a refresh
    assert all("if-none-match" not in s.headers for s in site.requests("/empty.html"))


def _target(engine):  # noqa: ANN001, ANN202 - an Engine: what indexer.sources writes through
    return engine.indexer, engine.settings
