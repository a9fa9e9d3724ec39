from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from indexer.load import (
    LoadError,
    LoadProblem,
    article_from_record,
    article_id_for_url,
    load_html,
    load_path,
    load_paths,
)
from qa.types import Article

EXAMPLES = Path(__file__).resolve().parents[2] / "qa" / "demo_articles"
SEED = EXAMPLES / "msn-pakistan-islamic-state.txt"
DEV = EXAMPLES / "squad-dev.jsonl"

ARTICLE_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Harbour bridge reopens after repairs | The Daily Example</title>
  <link rel="canonical" href="https://news.example.com/city/harbour-bridge-reopens-after-repairs">
  <script>window.dataLayer = window.dataLayer || [];
    function track(){ dataLayer.push(arguments); }</script>
  <style>body { font-family: sans-serif; }</style>
</head>
<body>
  <header><nav><ul>
    <li><a href="/">Home</a></li><li><a href="/city">City</a></li>
    <li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li>
  </ul></nav></header>
  <main><article>
    <h1>Harbour bridge reopens after repairs</h1>
    <p class="byline">By Jane Doe</p>
    <p>The harbour bridge reopened to traffic on Monday after eight months of repairs that cost
       the city 14 million euros, the transport department said.</p>
    <p>Engineers replaced 212 steel cables and resurfaced the full length of the deck, which had
       been closed since a storm damaged the northern tower last July.</p>
    <p>"We expect the bridge to carry about 40,000 vehicles a day again by the end of the month,"
       said chief engineer Marta Lindqvist, who led the project.</p>
    <p>Cyclists will have a separate lane on the eastern side for the first time, a change that
       local groups had requested for more than a decade.</p>
  </article></main>
  <aside><h3>Most read</h3><ul><li><a href="/a">Council approves budget</a></li></ul></aside>
  <footer><p>© 2024 The Daily Example. All rights reserved.</p></footer>
  <script>track('pageview');</script>
</body>
</html>
"""

SCRIPT_ONLY_HTML = """<!DOCTYPE html>
<html><head><title>App</title><script>var config = {a: 1};</script></head>
<body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
<div id="root"></div><script src="/bundle.js"></script><script>render(config)</script>
</body></html>
"""


def load_all(path: Path, **kw: object) -> tuple[list[Article], list[LoadError]]:
    items = list(load_path(path, **kw))  # type: ignore[arg-type]
    articles = [i for i in items if isinstance(i, Article)]
    errors = [i for i in items if isinstance(i, LoadError)]
    assert len(articles) + len(errors) == len(items)
    return articles, errors


def load_one(path: Path, **kw: object) -> Article:
    articles, errors = load_all(path, **kw)
    assert errors == []
    assert len(articles) == 1
    return articles[0]


def load_error(path: Path, **kw: object) -> LoadError:
    articles, errors = load_all(path, **kw)
    assert articles == []
    assert len(errors) == 1
    assert errors[0].path == str(path)
    return errors[0]


# --- seed format and the bundled examples ---------------------------------------------------


def test_seed_file() -> None:
    article = load_one(SEED)
    assert article.id == "msn-pakistan-islamic-state"
    assert article.title == "Pakistan says it foiled islamic state expansion into country"
    assert article.url == (
        "http://www.msn.com/en-in/news/world/"
        "pakistan-says-it-foiled-islamic-state-expansion-into-country/ar-AAimxWF"
    )
    assert article.meta["numbers"] == [125, 12]
    assert article.meta["byline"] == "Kay Johnson and Asad Hashim"
    assert article.source == str(SEED)
    sentence = (
        "Pakistani authorities have so far arrested 309 people associated with Islamic State (IS)"
        " on its territory, he said."
    )
    assert sentence in article.text
    assert article.text.startswith("Pakistan's military on Thursday said")
    assert "Â" not in article.text
    assert "REUTERS/Fayaz Aziz" not in article.text  # the photo credit is boilerplate
    assert "http" not in article.text and "Kay Johnson" not in article.text
    assert "\n\n\n" not in article.text


def test_seed_without_numbers_or_byline_and_title_fallback(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_text("\nhttps://example.com/x/ar-123\n\nFirst line of the body.\nMore.\n")
    article = load_one(path)
    assert article.url == "https://example.com/x/ar-123"
    assert article.title == "First line of the body."
    assert article.text == "First line of the body.\nMore."
    assert article.meta == {}


def test_seed_with_only_a_url(tmp_path: Path) -> None:
    path = tmp_path / "bare.txt"
    path.write_text("https://example.com/some-long-title-here\n12\nBy Someone\n")
    assert "no body text" in load_error(path).message


def test_dev_jsonl_is_loaded_verbatim() -> None:
    records = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()]
    articles, errors = load_all(DEV)
    assert errors == []
    assert len(articles) == 12
    for article, record in zip(articles, records, strict=True):
        assert article.id == record["id"]
        assert article.title == record["title"]
        assert article.url == record["url"]
        assert article.text == record["text"]
        assert article.meta == {"paragraph_spans": record["paragraph_spans"]}
        assert article.source == str(DEV)


def test_examples_folder() -> None:
    articles, errors = load_all(EXAMPLES)
    assert errors == []
    assert [a.id for a in articles][0] == "msn-pakistan-islamic-state"
    assert len(articles) == 13


# --- text and markdown ----------------------------------------------------------------------


def test_markdown_title_from_heading(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("Intro line\n\n## The  Real Title ##\n\nBody   text.  \n\n\n\nMore.\n")
    article = load_one(path)
    assert article.id == "notes"
    assert article.title == "The Real Title"
    assert article.text == "Intro line\n\n## The Real Title ##\n\nBody text.\n\nMore."
    assert article.url is None
    assert article.source == str(path)


def test_txt_title_from_first_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text("\n\n  A plain title  \r\nBody of the article.\r\n")
    article = load_one(path)
    assert article.title == "A plain title"
    assert article.text == "A plain title\nBody of the article."


def test_long_first_line_title_is_shortened(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("word " * 100)
    article = load_one(path)
    assert len(article.title) <= 201
    assert article.title.endswith("…")


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffTitle\nText é.".encode())
    article = load_one(path)
    assert article.title == "Title"
    assert article.text == "Title\nText é."
    assert "encoding" not in article.meta


def test_latin1_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    text = "Café à Paris\n\nL'été était très agréable, déjà vu. Größe, Straße, señor."
    path.write_bytes(text.encode("latin-1"))
    article = load_one(path)
    assert article.text == text
    assert article.title == "Café à Paris"
    assert article.meta["encoding"] == "cp1252"


def test_cp1252_punctuation(tmp_path: Path) -> None:
    path = tmp_path / "cp.txt"
    path.write_bytes("“Quoted” – it’s 5 €".encode("cp1252"))
    assert load_one(path).text == "“Quoted” – it’s 5 €"


def test_utf16_file(tmp_path: Path) -> None:
    path = tmp_path / "wide.txt"
    path.write_bytes("Title\nSome text, naïve.".encode("utf-16"))
    article = load_one(path)
    assert article.text == "Title\nSome text, naïve."
    assert article.meta["encoding"] == "utf-16"


# --- HTML -----------------------------------------------------------------------------------


def test_html_article(tmp_path: Path) -> None:
    path = tmp_path / "bridge.html"
    path.write_text(ARTICLE_HTML, encoding="utf-8")
    article = load_one(path)
    assert article.id == "bridge"
    assert article.title == "Harbour bridge reopens after repairs"
    assert article.url == "https://news.example.com/city/harbour-bridge-reopens-after-repairs"
    assert "Engineers replaced 212 steel cables" in article.text
    assert "chief engineer Marta Lindqvist" in article.text
    for noise in ("dataLayer", "font-family", "Weather", "Council approves", "All rights"):
        assert noise not in article.text
    # paragraphs are separated by one blank line, and lines are reflowed by clean_text
    assert "\n\nEngineers replaced 212 steel cables and resurfaced" in article.text
    assert "  " not in article.text


def test_html_publish_date_comes_from_the_page_markup(tmp_path: Path) -> None:
    dated = ARTICLE_HTML.replace(
        '<meta charset="utf-8">',
        '<meta charset="utf-8">\n  <meta property="article:published_time" '
        'content="2016-09-08T09:30:00+05:00">',
    )
    path = tmp_path / "dated.html"
    path.write_text(dated, encoding="utf-8")
    assert load_one(path).published == "2016-09-08"
    # Without a date in the markup there is none: the footer's "© 2024" is not a date.
    undated = tmp_path / "undated.html"
    undated.write_text(ARTICLE_HTML, encoding="utf-8")
    assert load_one(undated).published is None


def test_load_html_takes_a_canonical_url_on_the_same_host_only() -> None:
    same = load_html(ARTICLE_HTML, url="https://news.example.com/p?id=7", published="2016-09-08")
    assert isinstance(same, Article)
    assert same.url == "https://news.example.com/city/harbour-bridge-reopens-after-repairs"
    assert (
        same.id == article_id_for_url(same.url) and same.source == "https://news.example.com/p?id=7"
    )
    assert same.published == "2016-09-08"  # the feed's date: the page names none
    other = load_html(ARTICLE_HTML, url="https://elsewhere.example.org/copy")
    assert isinstance(other, Article) and other.url == "https://elsewhere.example.org/copy"
    bad = load_html(SCRIPT_ONLY_HTML, url="https://news.example.com/app")
    assert isinstance(bad, LoadError) and bad.path == "https://news.example.com/app"


def test_html_with_only_scripts(tmp_path: Path) -> None:
    path = tmp_path / "app.htm"
    path.write_text(SCRIPT_ONLY_HTML, encoding="utf-8")
    assert load_error(path).message.startswith("no main text found in the HTML")


@pytest.mark.parametrize("depth", [300, 5000])
def test_deeply_nested_html_is_read(tmp_path: Path, depth: int) -> None:
    # lxml stops at 255 levels: the text nested deeper was lost ("no main text found").
    story = (
        "<h1>Harbour bridge reopens</h1><p>The harbour bridge reopened on Monday after eight "
        "months of repairs.</p><p>Engineers replaced 212 steel cables and resurfaced the deck."
        "</p>"
    )
    html = f"<html><head><title>Bridge</title></head><body>{'<div>' * depth}{story}"
    path = tmp_path / "deep.html"
    path.write_text(html + "</div>" * depth + "</body></html>", encoding="utf-8")
    (article,) = load_path(path)
    assert isinstance(article, Article)
    assert "Engineers replaced 212 steel cables" in article.text
    assert "reopened on Monday" in article.text


# --- JSONL ----------------------------------------------------------------------------------


def test_jsonl_with_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    lines = [
        json.dumps({"id": "a", "title": "A", "url": "https://a.example", "text": "Alpha.", "x": 1}),
        "",
        '{"id": "b", "text": "Beta." "oops"}',
        json.dumps({"id": "c", "title": "No text"}),
        json.dumps({"text": "Gamma first line\nsecond line", "meta": {"lang": "en"}}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": 7, "text": "  "}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(load_path(path))
    assert [type(i).__name__ for i in items] == [
        "Article",
        "LoadError",
        "LoadError",
        "Article",
        "LoadError",
        "LoadError",
    ]
    a, bad_json, no_text, derived, not_object, blank_text = items
    assert isinstance(a, Article) and isinstance(derived, Article)
    assert (a.id, a.title, a.url, a.text, a.meta) == (
        "a",
        "A",
        "https://a.example",
        "Alpha.",
        {"x": 1},
    )
    assert derived.id == "batch-5"
    assert derived.title == "Gamma first line"
    assert derived.meta == {"lang": "en"}
    assert derived.url is None

    assert isinstance(bad_json, LoadError)
    assert bad_json.line == 3
    assert bad_json.message.startswith("invalid JSON on line 3: Expecting ',' delimiter")
    assert str(bad_json).startswith(f"{path}:3: invalid JSON on line 3")
    assert no_text == LoadError(str(path), 'line 4: missing "text"', line=4)
    assert isinstance(not_object, LoadError) and not_object.line == 6
    assert "expected a JSON object" in not_object.message
    assert blank_text == LoadError(str(path), 'line 7: missing "text"', line=7)


def test_jsonl_published_field(tmp_path: Path) -> None:
    path = tmp_path / "dated.jsonl"
    lines = [
        {"id": "a", "text": "Alpha.", "published": "2016-09-08"},
        {"id": "b", "text": "Beta.", "published": "2016-09-08T19:05:00+05:00"},
        {"id": "c", "text": "Gamma."},
        {"id": "d", "text": "Delta.", "published": "last Tuesday"},
        {"id": "e", "text": "Epsilon.", "published": 2016},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    a, b, c, d, e = load_path(path)
    assert (a.published, b.published, c.published) == ("2016-09-08", "2016-09-08T14:05:00Z", None)
    assert "published" not in a.meta
    assert isinstance(d, LoadError) and d.line == 4
    assert d.message.startswith("line 4: \"published\": 'last Tuesday' is not an ISO 8601 date")
    assert isinstance(e, LoadError) and "ISO 8601 date string" in e.message


def test_jsonl_iso_date_field_is_the_publish_date(tmp_path: Path) -> None:
    path = tmp_path / "scraped.jsonl"
    lines = [
        {"id": "a", "text": "Alpha.", "date": "2015-09-12"},
        {"id": "b", "text": "Beta.", "date": "03-02-2009"},  # not ISO: kept as it was
        {"id": "c", "text": "Gamma.", "published": "2016-01-01", "date": "2015-09-12"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    a, b, c = load_path(path)
    assert (a.published, "date" in a.meta) == ("2015-09-12", False)
    assert (b.published, b.meta["date"]) == (None, "03-02-2009")
    assert (c.published, c.meta["date"]) == ("2016-01-01", "2015-09-12")


def test_jsonl_line_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    small = json.dumps({"id": "s", "text": "small"})
    big = json.dumps({"id": "b", "text": "x" * 5000})
    path.write_text(f"{small}\n{big}\n", encoding="utf-8")
    articles, errors = load_all(path, max_article_bytes=1000)
    assert [a.id for a in articles] == ["s"]
    assert errors[0].line == 2
    assert "5 KB; the limit is 1 KB (QA_MAX_ARTICLE_BYTES)" in errors[0].message


# --- bad files ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.txt", "empty.md", "empty.html", "empty.jsonl"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(" \n\t\n")
    assert load_error(path).message == "file is empty"


@pytest.mark.parametrize("name", ["blob.txt", "blob.jsonl", "blob.html"])
def test_binary_file(tmp_path: Path, name: str) -> None:
    rng = random.Random(0)
    data = bytes(rng.randrange(256) for _ in range(4096)) + b"\x00\x00\x01\x00"
    path = tmp_path / name
    path.write_bytes(data)
    assert load_error(path).message == "looks like a binary file"


def test_file_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("Title\n" + "lorem ipsum " * 5000)
    error = load_error(path, max_article_bytes=50_000)
    assert error.message == "article is 60 KB; the limit is 50 KB (QA_MAX_ARTICLE_BYTES)"
    assert str(error) == f"{path}: {error.message}"


def test_nonexistent_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.txt"
    assert load_error(path) == LoadError(str(path), "path does not exist")


def test_unsupported_file_named_explicitly(tmp_path: Path) -> None:
    path = tmp_path / "doc.pdf"
    path.write_bytes(b"%PDF-1.4")
    assert "unsupported file type '.pdf'" in load_error(path).message


def test_empty_folder(tmp_path: Path) -> None:
    assert "no article files" in load_error(tmp_path).message


# --- folders --------------------------------------------------------------------------------


def test_folder_with_good_and_bad_files(tmp_path: Path) -> None:
    (tmp_path / "news" / "2024").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "news" / "2024" / "foo.md").write_text("# Foo\n\nFoo body.")
    (tmp_path / "news" / "bar.txt").write_text("Bar\nBar body.")
    (tmp_path / "news" / "page.html").write_text(ARTICLE_HTML)
    (tmp_path / "a-empty.txt").write_text("")
    (tmp_path / "b-binary.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (tmp_path / "c.jsonl").write_text('{"text": "One."}\n{broken\n{"id": "two", "text": "Two."}\n')
    # skipped silently: hidden, unsupported, README/LICENSE, hidden folders
    (tmp_path / ".hidden.txt").write_text("Hidden")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\x00")
    (tmp_path / "README.md").write_text("# About this folder")
    (tmp_path / "LICENSE.txt").write_text("MIT")
    (tmp_path / ".git" / "notes.txt").write_text("Not an article")

    items = list(load_path(tmp_path))
    summary = [
        (i.id, i.title) if isinstance(i, Article) else (Path(i.path).name, i.line, i.message)
        for i in items
    ]
    assert summary == [
        ("a-empty.txt", None, "file is empty"),
        ("b-binary.txt", None, "looks like a binary file"),
        ("c-1", "One."),
        (
            "c.jsonl",
            2,
            "invalid JSON on line 2: Expecting property name enclosed in double quotes (column 2)",
        ),
        ("two", "Two."),
        ("news/2024/foo", "Foo"),
        ("news/bar", "Bar"),
        ("news/page", "Harbour bridge reopens after repairs"),
    ]
    articles = [i for i in items if isinstance(i, Article)]
    assert articles[2].source == str(tmp_path / "news" / "2024" / "foo.md")


def test_load_paths_chains_in_order(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("One")
    (tmp_path / "two.md").write_text("# Two")
    items = list(load_paths([tmp_path / "two.md", tmp_path / "nope", tmp_path / "one.txt"]))
    assert [i.id if isinstance(i, Article) else i.message for i in items] == [
        "two",
        "path does not exist",
        "one",
    ]


def test_readme_named_explicitly_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# Read me\n\nText.")
    assert load_one(path).title == "Read me"


# --- records (JSONL lines and API posts) ------------------------------------------------------


def test_record_ids_title_and_repair() -> None:
    text = "Alpha  beta.\r\nGamma."
    with_id = article_from_record({"id": 7, "url": "https://a.example/x", "text": text})
    assert with_id.id == "7" and with_id.title == "Alpha  beta." and with_id.source is None
    assert with_id.text == "Alpha  beta.\nGamma."  # repaired, not reflowed
    assert article_from_record({"url": "https://a.example/x", "text": text}).id == (
        article_id_for_url("https://a.example/x")
    )
    assert article_from_record({"text": text}, default_id="f-3").id == "f-3"
    assert article_from_record({"title": "Budget: a vote!", "text": text}).id == "budget-a-vote"
    untitled = article_from_record({"title": "¿?", "text": text})
    assert untitled.id.startswith("article-") and untitled.title == "¿?"
    nested = article_from_record({"text": text, "meta": {"a": 1}, "b": 2}, source="s.jsonl")
    assert (nested.meta, nested.source) == ({"a": 1, "b": 2}, "s.jsonl")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"title": "t"}, 'missing "text"'),
        ({"text": " \n "}, 'missing "text"'),
        ({"text": "\x00 \u200b"}, '"text" is empty after cleaning'),
        ({"text": "x", "published": 2016}, '"published" must be an ISO 8601 date string'),
        ({"text": "x", "published": "soon"}, "\"published\": 'soon' is not an ISO 8601 date"),
    ],
)
def test_bad_records_name_the_field(record: dict, message: str) -> None:
    with pytest.raises(LoadProblem) as caught:
        article_from_record(record)
    assert str(caught.value).startswith(message)
