"""Lexical reranking: lift passages where the question's words meet in one place.

A passage that matches the question as a whole may still hold the answer nowhere in
particular; the answering passage usually has one sentence pair that repeats most of the
question's rarer words. The feature is that pair's share of the question's IDF mass
(IDF from the store's document frequencies), added to the fused retrieval score with
weight ``weight``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from indexer.lexical import content_words
from indexer.split import split_sentences
from indexer.store import IndexStore
from qa.retrieve import Hit


def _stem(word: str) -> str:
    # A 5-letter prefix folds most English inflections (arrested/arrests) without a stemmer.
    return word[:5]


class LexicalReranker:
    """Reorders hits by ``score + weight * best sentence-pair IDF coverage``.

    Args:
        store: the index (for document frequencies).
        weight: how much the sentence feature counts against the fused score.
    """

    def __init__(self, store: IndexStore, weight: float = 0.2) -> None:
        self.store = store
        self.weight = weight

    def idf(self, word: str) -> float:
        df, total = self.store.document_frequency(word)  # cached by the store
        return math.log((total - df + 0.5) / (df + 0.5) + 1)

    def coverage(self, question_weights: dict[str, float], text: str) -> float:
        """Best share of the question's IDF mass found in two neighbouring sentences."""
        total = sum(question_weights.values())
        if total <= 0:
            return 0.0
        sentences = [
            {_stem(w) for w in content_words(text[s.start : s.end])} for s in split_sentences(text)
        ]
        windows = [a | b for a, b in zip(sentences, sentences[1:], strict=False)] or sentences
        best = max(
            (sum(v for w, v in question_weights.items() if w in window) for window in windows),
            default=0.0,
        )
        return best / total

    def rerank(self, question: str, hits: Sequence[Hit]) -> list[Hit]:
        if not hits or self.weight <= 0:
            return list(hits)
        weights: dict[str, float] = {}
        for word in content_words(question):
            weights[_stem(word)] = max(weights.get(_stem(word), 0.0), self.idf(word))
        rescored = []
        for hit in hits:
            coverage = self.coverage(weights, hit.text)
            rescored.append(
                replace(hit, score=hit.score + self.weight * coverage, coverage=coverage)
            )
        return sorted(rescored, key=lambda h: h.score, reverse=True)
