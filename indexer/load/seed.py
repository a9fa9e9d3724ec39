"""The seed format (``.txt`` whose first non-empty line is an http(s) URL): the URL; then zero
or more lines holding only a number (``meta["numbers"]``); then optionally a byline ``By ...``
(``meta["byline"]``); then the body. Title from the URL slug, else the first line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.text.clean import clean_text, repair_text, title_from_url
from core.types import Article
from indexer.load.base import LoadProblem, first_line, has_words

_URL_LINE = re.compile(r"^https?://\S+$")
_NUMBER_LINE = re.compile(r"^[-+]?\d+(?:\.\d+)?$")


def is_seed(text: str) -> bool:
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return bool(_URL_LINE.match(first))


def from_seed(path: Path, doc_id: str, raw: str) -> Article:
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
    if not has_words(text):
        raise LoadProblem("seed file has a URL but no body text")
    title = title_from_url(url) or first_line(text)
    return Article(id=doc_id, title=title, url=url, text=text, meta=meta, source=str(path))
