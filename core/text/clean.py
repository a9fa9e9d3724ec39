"""Text cleaning: the rules that turn a loaded file into the text we quote.

Every offset later in the pipeline refers to the *cleaned* text, so the loader cleans before it
creates an :class:`~core.types.Article`. Two levels:

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

from core.text.words import MONTH

__all__ = ["boilerplate_spans", "clean_text", "mask_boilerplate", "repair_text", "title_from_url"]

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


# ---- news furniture ---------------------------------------------------------------------
# Scraped agency and network copy carries datelines, bylines, photo captions and credits,
# newsletter promos and link lists inside the text. They may stay in the stored text (so
# offsets of loaded articles stay valid), but are never answers or quotes: the engine reads
# the text with them blanked out (same length, so every offset still holds).

_AGENCY = (
    r"(?:CNN(?:\s+(?:Business|Sport|Travel|Style|Politics|Health))?|Reuters|AP|AFP|"
    r"The\s+Associated\s+Press|Associated\s+Press|Bloomberg|BBC(?:\s+News)?|UPI|dpa|Xinhua)"
)
_DASH = r"[—–-]{1,2}"
_PLACE = r"[A-Z][\w.'’]*(?:[ -][A-Za-z][\w.'’]*){0,4}"  # "New York", "Seoul, South Korea"
_CAPS_PLACE = r"[A-Z][A-Z.'’]+(?:[ -][A-Z][A-Z.'’]+){0,3}"  # "KYIV", "NEW YORK"
# "Washington CNN —", "New York CNN Business —", "LONDON (Reuters) -", "LONDON, March 3
# (Reuters) -", "NEW YORK (AP) —", "(CNN) —", "CNN —", "KYIV, Ukraine —"
_DATELINE = re.compile(
    r"^(?:"
    rf"\(?{_AGENCY}\)?\s*{_DASH}\s*"
    rf"|{_PLACE}(?:,\s*{_PLACE})?"
    rf"(?:,\s*[A-Z][a-z]{{2,8}}\.?\s+\d{{1,2}})?\s*\(?{_AGENCY}\)?\s*{_DASH}\s*"
    rf"|{_CAPS_PLACE}(?:,\s*{_PLACE})?\s*[—–]\s*"
    r")"
)
# Lines that are furniture whatever their length ...
_FURNITURE_LINE = re.compile(
    r"^(?:"
    # captions and credits
    r"©|\(c\)\s|(?:Photo|Photos|Image|Images|Picture|Photograph|Caption|Credit|Video|Watch|"
    r"Listen|Gallery|Image source|Image caption|Media caption|Getty Images)\s*[:,]"
    # promos
    r"|(?:Sign up (?:for|to|here|now)|Subscribe (?:to|now|for|here)|Get (?:our|the|a) [\w'’ ]*"
    r"newsletter|Follow (?:us|\w+(?: \w+)?) on (?:Twitter|X|Facebook|Instagram)|Click here"
    r"|Already a subscriber|Download (?:the|our) (?:\w+ )?app)\b"
    # agency trailers
    r"|\(?(?:Reporting|Additional reporting|Writing|Editing|Compiled) by\b"
    r"|Our Standards:"
    r"|_{3,}$|[-*•=]{3,}$"
    r")"
)
# ... and lines that are furniture when short (a sentence may start the same way).
_FURNITURE_SHORT = re.compile(
    r"^(?:Read more|Read More|READ MORE|Related|RELATED|More from|More on|Advertisement"
    r"|ADVERTISEMENT|Share(?: this| on| via|:|$)|Story continues|Continue reading|Log in"
    r"|Sign in|SUBSCRIBE|Subscribe|Most Read|Most read|Trending|Recommended|See also"
    r"|Don't miss|Also read|ALSO READ|Sign up|Newsletter)\b"
    # a timestamp line: "Updated 3:14 PM EDT, Thu May 4, 2023" (no sentence end)
    r"|^(?:Updated|Published|Posted|Last updated)\b[^.!?]*$"
)
# Headers of a list of links: the short unpunctuated lines under them are links.
_LIST_HEADER = re.compile(
    r"^(?:Read more|Related|RELATED|More from|More on|See also|Also read|ALSO READ|Most read"
    r"|Most Read|Trending|Recommended|Don't miss)\b"
)
_SHORT_WORDS = 12
_BYLINE = re.compile(
    r"^By\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3}"
    r"(?:(?:,|\s+and|\s*&)\s+[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3}){0,4}"
    rf"(?:\s*[,|]\s*{_AGENCY})?\s*$"
)
_CAPTION_END = re.compile(
    r"(?:Getty Images|/AP|/AFP|/Reuters|REUTERS|/Bloomberg|/EPA|/Shutterstock|/File|"
    r"\(AP Photo[^)]*\)|AP Photo/[\w. ]+|Image: [^.]{1,80}\.?)\s*$"
)
# A line that is only a date: the publication date of web and wiki news ("Tuesday, September
# 1, 2015", "15 October 2007 14:02 GMT"). The article's date is shown with every answer; as an
# answer the line is nearly always wrong ("In which year will ...?" -> the day it was written).
_MONTH = MONTH + r"\.?"
_DATE_LINE = re.compile(
    r"^(?:(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\.?,?\s+)?"
    rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH},?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2})"
    r"(?:,?\s+(?:at\s+)?\d{1,2}[:.]\d{2}(?:\s*[AaPp]\.?[Mm]\.?)?(?:\s+[A-Z]{2,5})?)?\s*$"
)
_CONTRIBUTED = re.compile(r"contributed (?:to )?(?:this |the )?(?:report|reporting|story)\.?$")
_END_PUNCT = re.compile(r"[.!?:;\"'”’)\]]$")


def boilerplate_spans(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of news furniture in ``text``: whole lines that are captions,
    credits, bylines, promos, agency trailers, link lists or a date alone, and datelines
    opening a line.

    >>> text = "Washington CNN — The company said yes.\\nSign up for our newsletter"
    >>> [text[s:e] for s, e in boilerplate_spans(text)]
    ['Washington CNN — ', 'Sign up for our newsletter']
    """
    spans: list[tuple[int, int]] = []
    lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]
    short_run: list[tuple[int, int]] = []  # short unpunctuated lines of one paragraph

    def flush_run() -> None:
        # three or more short unpunctuated lines in a row: a list of links or headlines
        if len(short_run) >= 3:
            spans.extend(short_run)
        short_run.clear()

    in_list = False  # under a "Related:" header, in the same paragraph
    for start, end in lines:
        line = text[start:end].strip()
        if not line:
            continue
        words = len(line.split())
        if short_run and text[short_run[-1][1] : start] != "\n":
            flush_run()  # a paragraph break ends a run
        if in_list and text[spans[-1][1] : start] != "\n":
            in_list = False
        unpunctuated = words <= 14 and not _END_PUNCT.search(line)
        if in_list and unpunctuated:
            spans.append((start, end))
            continue
        in_list = False
        if (
            _FURNITURE_LINE.match(line)
            or _BYLINE.match(line)
            or (words <= _SHORT_WORDS and _FURNITURE_SHORT.match(line))
            or (words <= 40 and _CAPTION_END.search(line))
            or (words <= 30 and _CONTRIBUTED.search(line))
            or _DATE_LINE.match(line)
        ):
            flush_run()
            spans.append((start, end))
            in_list = bool(_LIST_HEADER.match(line))
            continue
        if unpunctuated:
            short_run.append((start, end))
            continue
        flush_run()
        dateline = _DATELINE.match(text[start:end])
        if dateline and dateline.end() < end - start:
            spans.append((start, start + dateline.end()))
    flush_run()
    spans.sort()
    return spans


def mask_boilerplate(text: str, spans: list[tuple[int, int]] | None = None) -> str:
    """``text`` with its news furniture (:func:`boilerplate_spans`) replaced by spaces: the
    same length, so offsets into it are offsets into ``text``."""
    spans = boilerplate_spans(text) if spans is None else spans
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts.append(text[last:start])
        parts.append(" " * (end - start))
        last = end
    parts.append(text[last:])
    return "".join(parts)


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
