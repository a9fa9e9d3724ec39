"""Plain text and Markdown (``.txt``, ``.md``, ``.markdown``): title from the first Markdown
heading (``# Title``), else the first line; the text is the file content, cleaned (Markdown is
not rendered). A ``.txt`` file in the seed format goes to :mod:`indexer.load.seed`."""

from __future__ import annotations

import re
from pathlib import Path

from core.text.clean import clean_text
from core.types import Article
from indexer.load.base import LoadProblem, first_line, has_words, register, text_loader
from indexer.load.seed import from_seed, is_seed

_MD_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")


def from_text(path: Path, doc_id: str, raw: str) -> Article:
    text = clean_text(raw)
    if not has_words(text):
        raise LoadProblem("no text left after cleaning (only boilerplate)")
    heading = next((m.group(1) for ln in text.splitlines() if (m := _MD_HEADING.match(ln))), None)
    title = first_line(heading) if heading else first_line(text)
    return Article(id=doc_id, title=title, text=text, source=str(path))


def _from_txt(path: Path, doc_id: str, raw: str) -> Article:
    return from_seed(path, doc_id, raw) if is_seed(raw) else from_text(path, doc_id, raw)


register(".txt")(text_loader(_from_txt))
register(".md", ".markdown")(text_loader(from_text))
