"""Text cleaning: the rules that turn a loaded file into the text we quote.

Every offset later in the pipeline refers to the *cleaned* text, so the loader cleans before it
creates an :class:`~qa.types.Article`. Two levels:

- :func:`repair_text` only repairs what is broken and never reflows: mojibake (ftfy),
  newline styles, control characters. Text that needs no repair comes back byte-identical,
  so offsets that come with it (e.g. ``paragraph_spans`` in JSONL) stay valid.
- :func:`clean_text` repairs, then normalises whitespace and drops boilerplate paragraphs.

>>> clean_text("CafÃ©  au lait \\r\\n\\r\\n\\r\\nÂ© REUTERS/Photo\\n\\nSecond paragraph.")
'Café au lait\\n\\nSecond paragraph.'
>>> title_from_url("http://www.msn.com/en-in/news/world/pakistan-says-it-foiled/ar-AAimxWF")
'Pakistan says it foiled'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import ftfy

__all__ = ["clean_text", "repair_text", "title_from_url"]

# ftfy, limited to repairs: fix mojibake and broken bytes, but keep the author's characters
# (curly quotes, ligatures, full-width forms) so quotes stay verbatim, and do not unescape
# HTML entities in text that is not HTML (trafilatura already unescapes real HTML).
_FTFY = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    explain=False,
)

_NEWLINES = re.compile(r"\r\n?|[\v\f\x85\u2028\u2029]")
_BLANKS = re.compile(r"[ \t]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")

# Paragraphs dropped as boilerplate: photo captions / credits ("© REUTERS/Fayaz Aziz/Files ...").
_BOILERPLATE = re.compile(r"^©")


def _is_dropped_control(ch: str) -> bool:
    return ch not in "\n\t" and unicodedata.category(ch) == "Cc"


def repair_text(text: str) -> str:
    """Repair without reflowing: mojibake, newline styles and control characters.

    1. ``ftfy`` fixes mojibake (``"Â©"`` → ``"©"``, ``"CafÃ©"`` → ``"Café"``) and NFC-normalises.
    2. ``\\r\\n``, ``\\r``, vertical tab, form feed and Unicode line/paragraph separators → ``\\n``.
    3. NUL and the other control characters are removed (``\\n`` and ``\\t`` are kept).

    Args:
        text: Decoded text.

    Returns:
        The repaired text; identical to ``text`` when nothing needed repair.
    """
    # Dropping a control character can join two halves of a mojibake sequence that ftfy
    # then repairs ("\x9dÂ\x80" → "Â€" → "€"), so cleaning cleaned text must change nothing.
    return _until_stable(_repair_once, text)


def _until_stable(step: Callable[[str], str], text: str, passes: int = 4) -> str:
    """Apply ``step`` until the text stops changing (at most ``passes`` times)."""
    for _ in range(passes):
        changed = step(text)
        if changed == text:
            break
        text = changed
    return text


def _repair_once(text: str) -> str:
    text = ftfy.fix_text(text, _FTFY)
    text = _NEWLINES.sub("\n", text)
    if any(_is_dropped_control(ch) for ch in text):
        text = "".join(ch for ch in text if not _is_dropped_control(ch))
    return text


def clean_text(text: str) -> str:
    """Clean article text: the text we store and quote.

    The rules, in order:

    1. :func:`repair_text` (mojibake, newlines, control characters).
    2. Within each line, runs of spaces/tabs become one space; lines are stripped.
    3. Paragraphs are separated by exactly one blank line (``"\\n\\n"``).
    4. Boilerplate paragraphs are dropped: photo captions and credits starting with ``©``.
    5. The whole text is stripped.

    Args:
        text: Decoded text.

    Returns:
        The cleaned text ("" when nothing is left).

    Example:
        >>> clean_text("  One  line.\\t\\n\\n\\n\\nTwo.  ")
        'One line.\\n\\nTwo.'
    """
    # Stripping can expose mojibake too ("\xa0×¤" → "×¤" → "פ").
    return _until_stable(_clean_once, text)


def _clean_once(text: str) -> str:
    text = repair_text(text)
    lines = [_BLANKS.sub(" ", line).strip() for line in text.split("\n")]
    text = _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()
    paragraphs = [p for p in text.split("\n\n") if not _BOILERPLATE.match(p)]
    return "\n\n".join(paragraphs).strip()


_SLUG_WORDS = re.compile(r"[-_]+")
_PAGE_SUFFIX = re.compile(r"\.(?:s?html?|php|aspx?|jsp|cms)$", re.IGNORECASE)
_MIN_SLUG_WORDS = 3


def title_from_url(url: str) -> str | None:
    """Guess a title from the URL's slug.

    Rule: split each path segment on ``-``/``_`` (after dropping ``.html``-like suffixes and
    trailing all-digit id parts); take the segment with the most words, the last one on a
    tie; it needs at least 3 words, so ids like ``ar-AAimxWF`` never win. Only the first
    letter is capitalised.

    Args:
        url: An http(s) URL.

    Returns:
        The title, or ``None`` when no segment looks like a slug.

    Example:
        >>> title_from_url("https://example.com/world/2016/sep/pakistan-says-it-foiled-12345.html")
        'Pakistan says it foiled'
    """
    best: list[str] = []
    for segment in urlsplit(url).path.split("/"):
        segment = _PAGE_SUFFIX.sub("", unquote(segment))
        words = [w for w in _SLUG_WORDS.split(segment) if w]
        while len(words) > _MIN_SLUG_WORDS and words[-1].isdigit():
            words.pop()  # trailing numeric id: "...-into-country-1234567"
        if len(words) >= _MIN_SLUG_WORDS and len(words) >= len(best):
            best = words
    if not best:
        return None
    title = " ".join(best)
    return title[0].upper() + title[1:]
