"""Load articles from files and folders: the first step of the indexer.

Formats (chosen by suffix):

- ``.txt`` in the **seed format** (first non-empty line is an http(s) URL): the URL; then
  zero or more lines holding only a number (``meta["numbers"]``); then optionally a byline
  ``By ...`` (``meta["byline"]``); then the body. Title from the URL slug, else the first line.
- ``.txt`` / ``.md`` / ``.markdown``: title from the first Markdown heading (``# Title``), else
  the first line; the text is the file content, cleaned (Markdown is not rendered).
- ``.html`` / ``.htm``: main text by trafilatura; title and URL from the page metadata
  (canonical link), else ``<title>``.
- ``.jsonl``: one article a line, ``{"id", "title", "url", "text", "published", ...}``
  (``published``: an ISO 8601 date, optional); other keys go to ``meta``. The text is only
  *repaired* (:func:`~indexer.clean.repair_text`), never reflowed,
  so prepared text and offsets that come with it (``paragraph_spans``) stay valid.

Every other text is cleaned with :func:`~indexer.clean.clean_text` before the
:class:`~qa.types.Article` is made, because all later offsets refer to the stored text.

Bad input never raises: each problem is yielded as a :class:`LoadError` naming the file (and
the line, for JSONL), and the good articles next to it are still yielded.

>>> from pathlib import Path
>>> for item in load_path(Path("examples/articles")):  # doctest: +SKIP
...     print(item if isinstance(item, LoadError) else item.id)
msn-pakistan-islamic-state
Warsaw
...
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from indexer.clean import clean_text, repair_text, title_from_url
from indexer.dates import DateError, normalize_published
from qa.types import Article

__all__ = [
    "SUPPORTED_SUFFIXES",
    "LoadError",
    "article_id_for_url",
    "decode_text",
    "load_html",
    "load_path",
    "load_paths",
]

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
DEFAULT_MAX_ARTICLE_BYTES = 20_000_000
MAX_TITLE_CHARS = 200

# Files skipped in folder walks (not when named explicitly): README*, LICENSE*, LICENCE*.
_SKIPPED_IN_FOLDERS = re.compile(r"^(readme|licen[cs]e)([._-].*)?$", re.IGNORECASE)
_URL_LINE = re.compile(r"^https?://\S+$")
_NUMBER_LINE = re.compile(r"^[-+]?\d+(?:\.\d+)?$")
_MD_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HTML_NOSCRIPT = re.compile(r"<noscript\b.*?</noscript\s*>", re.IGNORECASE | re.DOTALL)
_HTML_LINK = re.compile(r"<a\b[^>]*>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class LoadError:
    """A file (or JSONL line) that could not be loaded, with a message for humans.

    Example:
        >>> str(LoadError("data/a.jsonl", 'line 4: missing "text"', line=4))
        'data/a.jsonl:4: line 4: missing "text"'
    """

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class _Problem(Exception):
    """Internal: a bad input; becomes a LoadError."""


def load_paths(paths: Iterable[Path | str], **kw: Any) -> Iterator[Article | LoadError]:
    """Load several files/folders in order; see :func:`load_path` for the keyword arguments."""
    for path in paths:
        yield from load_path(Path(path), **kw)


def load_path(
    path: Path | str, *, max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES
) -> Iterator[Article | LoadError]:
    """Load the articles in a file or folder.

    Folders are walked recursively, files in order of their relative path. Hidden files and
    folders, unsupported suffixes and files named ``README*`` / ``LICENSE*`` are skipped
    silently there; a file named explicitly is always loaded (or reported).

    Article ids: a single file's stem; for files in a folder, the path relative to that
    folder without suffix (``news/2024/foo``); for JSONL, the ``"id"`` field, else
    ``<file id>-<line>``. ``source`` is the file path.

    Args:
        path: A file or a folder.
        max_article_bytes: Files (for JSONL: lines) larger than this are reported, not loaded.

    Yields:
        An :class:`Article` per article and a :class:`LoadError` per problem; never raises
        for bad input.
    """
    path = Path(path)
    try:
        if path.is_dir():
            files = sorted(_walk(path), key=lambda f: f.relative_to(path).as_posix())
            if not files:
                kinds = ", ".join(SUPPORTED_SUFFIXES)
                yield LoadError(str(path), f"folder has no article files ({kinds})")
            for file in files:
                doc_id = file.relative_to(path).with_suffix("").as_posix()
                yield from _load_file(file, doc_id, max_article_bytes)
        elif path.is_file():
            yield from _load_file(path, path.stem, max_article_bytes)
        elif path.exists():
            yield LoadError(str(path), "not a regular file or folder")
        else:
            yield LoadError(str(path), "path does not exist")
    except OSError as e:
        yield LoadError(str(path), f"cannot read: {e.strerror or e}")


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith(".") or _SKIPPED_IN_FOLDERS.match(name):
                continue
            if Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                yield Path(root) / name


def _load_file(path: Path, doc_id: str, max_bytes: int) -> Iterator[Article | LoadError]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        yield LoadError(str(path), f"unsupported file type {suffix!r} (supported: {kinds})")
        return
    try:
        if suffix == ".jsonl":
            yield from _load_jsonl(path, doc_id, max_bytes)
            return
        size = path.stat().st_size
        if size > max_bytes:
            raise _Problem(_too_big("article", size, max_bytes))
        text, encoding = _decode(path.read_bytes())
        if suffix in (".html", ".htm"):
            article = _from_html(path, doc_id, text)
        elif suffix == ".txt" and _is_seed(text):
            article = _from_seed(path, doc_id, text)
        else:
            article = _from_text(path, doc_id, text)
        if encoding:
            article.meta["encoding"] = encoding
        yield article
    except _Problem as e:
        yield LoadError(str(path), str(e))
    except OSError as e:
        yield LoadError(str(path), f"cannot read: {e.strerror or e}")
    except Exception as e:  # last line of defence: a bad file must not stop the others
        yield LoadError(str(path), f"unexpected error: {type(e).__name__}: {e}")


# --- decoding -------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str | None]:
    """Bytes → text. Returns the text and the encoding when it was not UTF-8."""
    text, encoding = _decode_bytes(data)
    if not text.strip():
        raise _Problem("file is empty")
    head = text[:_SNIFF_BYTES]
    controls = sum(1 for ch in head if ch < " " and ch not in "\t\n\r\f\v")
    if controls > len(head) * 0.05:
        raise _Problem("looks like a binary file")
    return text, encoding


def decode_text(data: bytes, charset: str | None = None) -> str:
    """Bytes from the web as text: by the declared ``charset`` when it decodes them, else
    as a file would be (byte-order marks, UTF-8, then legacy encodings)."""
    if charset:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown label: guess as for a file
    try:
        return _decode_bytes(data)[0]
    except _Problem:
        return data.decode("utf-8", errors="replace")


def _decode_bytes(data: bytes) -> tuple[str, str | None]:
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec), None if codec == "utf-8-sig" else codec
            except UnicodeDecodeError as e:
                raise _Problem(f"starts with a {codec} byte-order mark but is not {codec}") from e
    if b"\x00" in data[:_SNIFF_BYTES]:
        return _decode_utf16_without_bom(data), "utf-16"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        first_bad = e.start
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    multibyte = sum(1 for ch in text if ord(ch) > 127) - bad
    if multibyte > bad:
        # UTF-8 with a few broken bytes (a cut-off download, a bad copy): keep the text and say
        # so, rather than reading all of it in a legacy encoding as mojibake.
        line = data.count(b"\n", 0, first_bad) + 1
        what = "an invalid byte sequence" if bad == 1 else f"{bad} invalid byte sequences"
        return text, f"utf-8 with {what} replaced by U+FFFD (first on line {line})"
    return _decode_legacy(data)


def _decode_utf16_without_bom(data: bytes) -> str:
    """Text with NULs is UTF-16 only if all NULs sit on one byte parity; else binary."""
    head = data[:_SNIFF_BYTES]
    odd = head[1::2].count(0)
    even = head[0::2].count(0)
    codec = "utf-16-le" if odd and not even else "utf-16-be" if even and not odd else None
    if codec and len(data) % 2 == 0:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    raise _Problem("looks like a binary file")


def _decode_legacy(data: bytes) -> tuple[str, str]:
    """Not UTF-8: cp1252 for Western text, else charset_normalizer's guess, else Latin-1.

    charset_normalizer guesses short Western European text poorly (cp1250/cp1257 for French),
    so cp1252 is tried first and kept when few letters are non-ASCII (accents in Latin
    words); Cyrillic or Greek bytes read as cp1252 would be almost all non-ASCII.
    """
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        pass
    else:
        letters = [ch for ch in text if ch.isalpha()]
        if sum(not ch.isascii() for ch in letters) <= 0.3 * len(letters):
            return text, "cp1252"
    try:
        import charset_normalizer
    except ImportError:  # pragma: no cover - installed with trafilatura / requests
        best = None
    else:
        best = charset_normalizer.from_bytes(data).best()
    if best is not None:
        return str(best), best.encoding
    return data.decode("latin-1"), "latin-1"


def _too_big(what: str, size: int, limit: int) -> str:
    return f"{what} is {_human(size)}; the limit is {_human(limit)} (QA_MAX_ARTICLE_BYTES)"


def _human(n: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


# --- formats --------------------------------------------------------------------------------


def _has_words(text: str) -> bool:
    """Whether cleaning left any letter or digit (not only punctuation or zero-width marks)."""
    return any(ch.isalnum() for ch in text)


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) > MAX_TITLE_CHARS:
        line = line[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] + "…"
    return line


def _is_seed(text: str) -> bool:
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return bool(_URL_LINE.match(first))


def _from_seed(path: Path, doc_id: str, raw: str) -> Article:
    lines = repair_text(raw).split("\n")
    i = 0
    while not lines[i].strip():
        i += 1
    url = lines[i].strip()
    i += 1
    meta: dict[str, Any] = {}
    numbers: list[int | float] = []
    while i < len(lines):
        line = lines[i].strip()
        if not line:
            i += 1
        elif _NUMBER_LINE.match(line):
            numbers.append(float(line) if "." in line else int(line))
            i += 1
        else:
            break
    if numbers:
        meta["numbers"] = numbers
    if i < len(lines) and lines[i].strip().startswith("By "):
        meta["byline"] = clean_text(lines[i].strip()[3:])
        i += 1
    text = clean_text("\n".join(lines[i:]))
    if not _has_words(text):
        raise _Problem("seed file has a URL but no body text")
    title = title_from_url(url) or _first_line(text)
    return Article(id=doc_id, title=title, url=url, text=text, meta=meta, source=str(path))


def _from_text(path: Path, doc_id: str, raw: str) -> Article:
    text = clean_text(raw)
    if not _has_words(text):
        raise _Problem("no text left after cleaning (only boilerplate)")
    heading = next((m.group(1) for ln in text.splitlines() if (m := _MD_HEADING.match(ln))), None)
    title = _first_line(heading) if heading else _first_line(text)
    return Article(id=doc_id, title=title, text=text, source=str(path))


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
        article = _from_html(Path(url), doc_id or "", html, page_url=url)
    except _Problem as e:
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


def article_id_for_url(url: str) -> str:
    """The id of an article known by its URL: ``url-`` and a hash of the URL."""
    return "url-" + hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def _from_html(path: Path, doc_id: str, html: str, page_url: str | None = None) -> Article:
    import trafilatura  # imported here: it is slow to import and only HTML needs it
    from trafilatura.settings import set_date_params

    # <noscript> holds "please enable JavaScript", never the article.
    body = trafilatura.extract(
        _HTML_NOSCRIPT.sub("", html),
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    # trafilatura puts one "\n" between blocks; we separate paragraphs by a blank line.
    text = clean_text((body or "").replace("\n", "\n\n"))
    if not _has_words(text) or _only_link_text(text, html):
        raise _Problem("no main text found in the HTML (only scripts/navigation?)")
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
        title=_first_line(title or "") or _first_line(text),
        url=metadata.url if metadata is not None else None,
        text=text,
        meta=meta,
        source=str(path),
        published=published,
    )


def _only_link_text(text: str, html: str) -> bool:
    """Whether every paragraph extracted is the text of a link: a menu, not an article."""
    links = {
        " ".join(unescape(_HTML_TAG.sub(" ", m)).split()).casefold()
        for m in _HTML_LINK.findall(html)
    }
    paragraphs = [" ".join(p.split()).casefold() for p in text.split("\n") if p.strip()]
    return all(p in links for p in paragraphs)


def _load_jsonl(path: Path, doc_id: str, max_bytes: int) -> Iterator[Article | LoadError]:
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
        if b"\x00" in head:
            raise _Problem("looks like a binary file")
        if not head.strip():
            raise _Problem("file is empty")
        f.seek(0)
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield _jsonl_article(path, doc_id, n, raw, max_bytes)
            except _Problem as e:
                yield LoadError(str(path), str(e), line=n)


def _jsonl_article(path: Path, doc_id: str, n: int, raw: bytes, max_bytes: int) -> Article:
    if len(raw) > max_bytes:
        raise _Problem(_too_big(f"the article on line {n}", len(raw), max_bytes))
    try:
        line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
    except UnicodeDecodeError as e:
        raise _Problem(f"line {n} is not valid UTF-8 (byte {e.start + 1})") from e
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise _Problem(f"invalid JSON on line {n}: {e.msg} (column {e.colno})") from e
    if not isinstance(record, dict):
        raise _Problem(f"line {n}: expected a JSON object, got {type(record).__name__}")
    text = record.pop("text", None)
    if not isinstance(text, str) or not text.strip():
        raise _Problem(f'line {n}: missing "text"')
    text = repair_text(text)
    if not _has_words(text):
        raise _Problem(f'line {n}: "text" is empty after cleaning')
    article_id = record.pop("id", None)
    title = record.pop("title", None)
    url = record.pop("url", None)
    published = record.pop("published", None)
    if published is not None and not isinstance(published, str):
        raise _Problem(f'line {n}: "published" must be an ISO 8601 date string')
    try:
        published = normalize_published(published) if published else None
    except DateError as e:
        raise _Problem(f'line {n}: "published": {e}') from None
    meta: dict[str, Any] = {}
    if isinstance(record.get("meta"), dict):
        meta.update(record.pop("meta"))  # our own export format nests meta
    meta.update(record)
    return Article(
        id=str(article_id) if article_id not in (None, "") else f"{doc_id}-{n}",
        title=_first_line(str(title)) if title else _first_line(text),
        url=str(url) if url else None,
        text=text,
        meta=meta,
        source=str(path),
        published=published,
    )
