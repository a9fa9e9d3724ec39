"""BM25 terms: words (:mod:`core.text.words`) with accents folded and Porter-stemmed, as
SQLite's FTS5 ``porter unicode61`` tokenizer makes them. Both stores' BM25 key on these, so a
question ranks the same passages on either."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable

import Stemmer

from core.text.words import words

_COMBINING_ACCENT = re.compile("[\u0300-\u036f]")
_stemmers = threading.local()  # a PyStemmer object must not be shared between threads

# BM25 as FTS5 scores it: k1 1.2, b 0.75, Robertson's IDF floored at 0, every word counted in a
# passage's length. A term's part of a passage's score is floored at MIN_TERM_SCORE, so a
# passage holding a word found in half the passages or more still matches (as in FTS5).
K1 = 1.2
B = 0.75
MIN_TERM_SCORE = 1e-6


def terms(lowered: Iterable[str]) -> list[str]:
    """BM25 terms of lower-cased words: accents folded (as FTS5's unicode61 does), then
    Porter stems, as FTS5's porter tokenizer makes them."""
    stemmer = getattr(_stemmers, "porter", None)
    if stemmer is None:
        stemmer = _stemmers.porter = Stemmer.Stemmer("porter")
    folded = [
        _COMBINING_ACCENT.sub("", unicodedata.normalize("NFKD", w)) if not w.isascii() else w
        for w in lowered
    ]
    return stemmer.stemWords(folded)


def passage_terms(text: str) -> list[str]:
    """Every term of a passage, repeats and stopwords included: they make its length."""
    return terms(words(text))
