"""Lexical reranking: lift passages where the question's words meet in one place.

A passage that matches the question as a whole may still hold the answer nowhere in
particular; the answering passage usually has one sentence pair that repeats most of the
question's rarer words. The feature is that pair's share of the question's IDF mass
(IDF from the store's document frequencies), added to the fused retrieval score with
weight ``weight``.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace

from core.text.sentences import Sentence
from core.text.words import STOPWORDS, content_words
from indexer.stores.base import Store
from qa import derived
from qa.retrieve import Hit

STEM_LENGTH = 5


def _stem(word: str) -> str:
    # A 5-letter prefix folds most English inflections (arrested/arrests) without a stemmer.
    return word[:STEM_LENGTH]


def _word_pattern(stems: Iterable[str]) -> re.Pattern[str]:
    """Matches, in lower-cased NFKC text, the words whose stem is one of ``stems`` (a stem
    shorter than STEM_LENGTH is the whole word)."""
    alternatives = [
        re.escape(stem) + (r"\w*" if len(stem) == STEM_LENGTH else r"\b") for stem in stems
    ]
    return re.compile(r"\b(?:" + "|".join(alternatives) + ")")


def _stems_by_sentence(
    stems: Collection[str], pattern: re.Pattern[str], text: str, sentences: Sequence[Sentence]
) -> list[set[str]]:
    """For each sentence, the ``stems`` among its content words (``pattern``:
    :func:`_word_pattern` of ``stems``)."""
    lowered = text.lower()
    if len(lowered) != len(text) or not unicodedata.is_normalized("NFKC", text):
        # Normalising would move offsets: content words sentence by sentence.
        return [
            {_stem(w) for w in content_words(text[s.start : s.end])}.intersection(stems)
            for s in sentences
        ]
    # The text is its own NFKC form and lower-cases in place (nearly always): one regex pass
    # over it instead of a word list per sentence.
    found: list[set[str]] = [set() for _ in sentences]
    starts = [s.start for s in sentences]
    for match in pattern.finditer(lowered):
        word = match.group()
        i = bisect.bisect_right(starts, match.start()) - 1
        if i >= 0 and match.end() <= sentences[i].end and word not in STOPWORDS:
            found[i].add(_stem(word))
    return found


class LexicalReranker:
    """Reorders hits by ``score + weight * best sentence-pair IDF coverage``.

    Args:
        store: the index (for document frequencies).
        weight: how much the sentence feature counts against the fused score.
    """

    def __init__(self, store: Store, weight: float = 0.2) -> None:
        self.store = store
        self.weight = weight

    def idf(self, word: str) -> float:
        df, total = self.store.document_frequency(word)  # cached by the store
        return math.log((total - df + 0.5) / (df + 0.5) + 1)

    def coverage(
        self,
        question_weights: dict[str, float],
        text: str,
        pattern: re.Pattern[str] | None = None,
    ) -> tuple[float, tuple[int, int] | None]:
        """Best share of the question's IDF mass found in two neighbouring sentences, and
        where those sentences are in ``text`` (``[start, end)``; None without sentences).

        ``pattern``: :func:`_word_pattern` of the question's stems, if already made.
        """
        total = sum(question_weights.values())
        sentences = derived.sentences(text) if total > 0 else ()
        if not sentences:
            return 0.0, None
        pattern = pattern or _word_pattern(question_weights)
        found = _stems_by_sentence(question_weights.keys(), pattern, text, sentences)
        windows = [a | b for a, b in zip(found, found[1:], strict=False)] or found
        weights = [sum(v for w, v in question_weights.items() if w in window) for window in windows]
        best = max(range(len(weights)), key=weights.__getitem__)  # the first of equals
        last = min(best + 1, len(sentences) - 1)
        return weights[best] / total, (sentences[best].start, sentences[last].end)

    def rerank(self, question: str, hits: Sequence[Hit]) -> list[Hit]:
        if not hits or self.weight <= 0:
            return list(hits)
        weights: dict[str, float] = {}
        for word in content_words(question):
            weights[_stem(word)] = max(weights.get(_stem(word), 0.0), self.idf(word))
        pattern = _word_pattern(weights)
        rescored = []
        for hit in hits:
            coverage, focus = self.coverage(weights, hit.text, pattern)
            rescored.append(
                replace(
                    hit, score=hit.score + self.weight * coverage, coverage=coverage, focus=focus
                )
            )
        return sorted(rescored, key=lambda h: h.score, reverse=True)
