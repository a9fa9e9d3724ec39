"""Words of a text: lower-cased, NFKC-normalised, and the content words that carry evidence.

NFKC first, so a decomposed accent (e + U+0301), a ligature or a full-width digit typed in a
question matches the same word in the (ftfy-cleaned, NFC) articles.
"""

from __future__ import annotations

import re
import string
import unicodedata

# Function words carry no evidence for BM25, and make FTS5 OR-queries match everything.
_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours out over own
same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom whose why
will with would you your yours
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# A month's name, whole or abbreviated ("Sept"), for patterns of dates (no flags, no "\b").
MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_WORD = re.compile(r"\w+", re.UNICODE)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def words(text: str) -> list[str]:
    """Every lower-cased word of ``text``, in order, repeats and stopwords included."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` minus stopwords, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in words(text):
        if word not in STOPWORDS and word not in seen:
            seen[word] = None
    return list(seen)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's official answer normalisation: lower case, without punctuation, articles
    or repeated spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())
