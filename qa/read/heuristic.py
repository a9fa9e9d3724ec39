"""A rule-based reader: the sentence sharing most question words, and inside it the
candidate of the expected answer type (number, date, name) nearest to those words.

It needs no model and is the fallback when the trained reader is absent.
"""

from __future__ import annotations

import math
import re

from core.text.sentences import split_sentences
from core.text.words import MONTH, content_words
from qa.read.base import Span

_MONTH = MONTH + r"\.?"
_NUMBER = re.compile(
    r"(?:about |around |nearly |over |more than |some |approximately )?"
    r"[$£€]?\d[\d,.]*(?:\s?(?:%|percent|per cent|million|billion|thousand|hundred))?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty"
    r"|fifty|hundred|thousand|million|billion)\b(?:[- ](?:one|two|three|four|five|six|seven|eight"
    r"|nine|hundred|thousand|million|billion))*",
    re.IGNORECASE,
)
_DATE = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{4}}"
    rf"|{_MONTH}\s+\d{{4}}|(?:1[0-9]|20)\d{{2}}s?|\d{{1,2}}(?:st|nd|rd|th) century"
    rf"|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday))\b"
)
_NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+(?:of|de|van|von|the|al|and)?\s*[A-Z][\w'’.-]*)*")

_QUESTION_TYPES: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (
        re.compile(r"\b(?:when|what year|which year|what date|what century|what decade)\b", re.I),
        _DATE,
    ),
    (
        re.compile(
            r"\bhow (?:many|much|long|old|far|big|large|tall|high)\b"
            r"|\bwhat (?:percent|percentage|number|amount)\b",
            re.I,
        ),
        _NUMBER,
    ),
    (
        re.compile(r"\b(?:who|whom|whose|where|which \w+ (?:city|country|team|company))\b", re.I),
        _NAME,
    ),
]


def _stem(word: str) -> str:
    return word[:5]


class HeuristicReader:
    """Reads spans with lexical overlap and answer-type patterns (no model)."""

    name = "HeuristicReader"
    # Its scores rank spans but are no probabilities: a neighbour's share of them means little.
    quote_neighbour_share: float | None = None
    read_more_below = 0.4

    def read(self, question: str, texts: list[str], top_n: int = 5) -> list[Span]:
        q_words = {_stem(w) for w in content_words(question)}
        if not texts or not q_words:
            return []
        pattern = next((p for qp, p in _QUESTION_TYPES if qp.search(question)), None)
        spans: list[Span] = []
        for index, text in enumerate(texts):
            for sentence in split_sentences(text):
                sentence_text = text[sentence.start : sentence.end]
                words = {_stem(w) for w in content_words(sentence_text)}
                overlap = len(q_words & words) / len(q_words)
                if overlap == 0:
                    continue
                # Passage rank is a prior: earlier passages are likelier to answer.
                logit = overlap * 4 - 0.3 * index
                start, end = self._span(sentence_text, q_words, pattern)
                if pattern is not None and (start, end) == (0, len(sentence_text)):
                    logit -= 1.0  # the expected answer type is missing here
                spans.append(
                    Span(
                        passage_index=index,
                        start=sentence.start + start,
                        end=sentence.start + end,
                        score=1 / (1 + math.exp(-(logit - 2.5))),
                        logit=logit,
                    )
                )
        spans.sort(key=lambda s: s.logit, reverse=True)
        return spans[:top_n]

    @staticmethod
    def _span(sentence: str, q_words: set[str], pattern: re.Pattern[str] | None) -> tuple[int, int]:
        """The typed candidate nearest to the question words, else the whole sentence."""
        candidates = [
            m
            for m in (pattern.finditer(sentence) if pattern else ())
            if not {_stem(w) for w in content_words(m.group())} <= q_words or not m.group().strip()
        ]
        candidates = [m for m in candidates if m.group().strip()]
        if not candidates:
            return 0, len(sentence)
        anchors = [
            m.start() for m in re.finditer(r"\w+", sentence) if _stem(m.group().lower()) in q_words
        ] or [0]
        best = min(candidates, key=lambda m: min(abs(m.start() - a) for a in anchors))
        start, end = best.start(), best.end()
        while start < end and sentence[start].isspace():
            start += 1
        while end > start and sentence[end - 1] in " ,.;:":
            end -= 1
        return start, end
