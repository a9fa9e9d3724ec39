"""Sentences of a text as ``[start, end)`` spans into it (sentencex, plus line breaks).

The indexer groups them into passages; the reranker, the reader's window and the quote
work a sentence at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sentencex

_LINE = re.compile(r"[^\n]+")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of ``text`` as trimmed ``[start, end)`` spans; newlines inside a paragraph
    that separate lines without end punctuation also end a sentence (headings, lists)."""
    spans: list[Sentence] = []
    for boundary in sentencex.get_sentence_boundaries("en", text):
        if boundary["is_paragraph_break"]:
            continue
        start, end = boundary["start_index"], boundary["end_index"]
        # Lines within one segment (headings, list items, bylines) become sentences of their own.
        if "\n" in text[start:end]:
            lines = [m.span() for m in _LINE.finditer(text, start, end)]
        else:
            lines = [(start, end)] if end > start else []
        for s, e in lines:
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if e > s:
                spans.append(Sentence(s, e))
    return spans
