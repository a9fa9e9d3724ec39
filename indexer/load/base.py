"""What every format's loader shares: the error type, decoding bytes to text, titles, and
the registry that maps a file suffix to its loader (each format registers itself in its own
module: :mod:`indexer.load.text`, :mod:`~indexer.load.seed`, :mod:`~indexer.load.html`,
:mod:`~indexer.load.jsonl`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.types import Article

MAX_TITLE_CHARS = 200
SNIFF_BYTES = 8192

# A loader turns one file into articles and problems (an Iterator: JSONL holds many).
Loader = Callable[[Path, str, int], Iterator["Article | LoadError"]]
# A text format turns the decoded text of one file into one article.
TextParser = Callable[[Path, str, str], Article]

LOADERS: dict[str, Loader] = {}


def register(*suffixes: str) -> Callable[[Loader], Loader]:
    """Register ``loader`` for files with these (lower-case) suffixes."""

    def add(loader: Loader) -> Loader:
        for suffix in suffixes:
            LOADERS[suffix] = loader
        return loader

    return add


def text_loader(parse: TextParser) -> Loader:
    """A loader for a one-article text format: checks the size, decodes the bytes (noting a
    non-UTF-8 encoding in ``meta["encoding"]``), then ``parse(path, doc_id, text)``."""

    def load(path: Path, doc_id: str, max_bytes: int) -> Iterator[Article | LoadError]:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadProblem(too_big("article", size, max_bytes))
        text, encoding = decode(path.read_bytes())
        article = parse(path, doc_id, text)
        if encoding:
            article.meta["encoding"] = encoding
        yield article

    return load


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


class LoadProblem(Exception):
    """A bad input; the loader turns it into a :class:`LoadError`."""


# --- decoding -------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, str | None]:
    """Bytes → text. Returns the text and the encoding when it was not UTF-8."""
    text, encoding = _decode_bytes(data)
    if not text.strip():
        raise LoadProblem("file is empty")
    head = text[:SNIFF_BYTES]
    controls = sum(1 for ch in head if ch < " " and ch not in "\t\n\r\f\v")
    if controls > len(head) * 0.05:
        raise LoadProblem("looks like a binary file")
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
    except LoadProblem:
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
                raise LoadProblem(
                    f"starts with a {codec} byte-order mark but is not {codec}"
                ) from e
    if b"\x00" in data[:SNIFF_BYTES]:
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
    head = data[:SNIFF_BYTES]
    odd = head[1::2].count(0)
    even = head[0::2].count(0)
    codec = "utf-16-le" if odd and not even else "utf-16-be" if even and not odd else None
    if codec and len(data) % 2 == 0:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    raise LoadProblem("looks like a binary file")


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


def too_big(what: str, size: int, limit: int) -> str:
    return f"{what} is {_human(size)}; the limit is {_human(limit)} (QA_MAX_ARTICLE_BYTES)"


def _human(n: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


# --- titles ---------------------------------------------------------------------------------


def has_words(text: str) -> bool:
    """Whether cleaning left any letter or digit (not only punctuation or zero-width marks)."""
    return any(ch.isalnum() for ch in text)


def first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) > MAX_TITLE_CHARS:
        line = line[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] + "…"
    return line
