"""Split an article into sentence-aligned passages with ``[start, end)`` offsets into its text.

Sentences come from :func:`core.text.sentences.split_sentences`, shared with the reader.

Passages are windows of whole sentences that fit the embedder's token budget (so the
model never truncates one), overlapping by a sentence so that an answer near a border
lives whole in at least one passage. A sentence longer than the budget is cut at word
boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from core.text.sentences import Sentence, split_sentences
from core.types import Passage

TokenCounter = Callable[[Sequence[str]], list[int]]

_WORD = re.compile(r"\S+")
_WINDOW_CHARS = 10_000  # a long sentence is tokenised in word-aligned windows of this size


def approx_token_count(texts: Sequence[str]) -> list[int]:
    """A tokenizer-free estimate (about 1.3 word pieces a word) for tests and tools."""
    return [int(len(_WORD.findall(t)) * 1.35) + 1 for t in texts]


def _word_token_counts(
    text: str, words: Sequence[tuple[int, int]], count: TokenCounter
) -> list[int]:
    """Word pieces per word of ``text`` (``words`` are ``[start, end)`` spans in order), each
    word tokenised once. A counter with an ``offsets`` method (the embedder's) tokenises
    word-aligned windows of the text in one batch and assigns each piece to its word by its
    offset; any other counts the words themselves."""
    offsets = getattr(count, "offsets", None)
    if offsets is None:
        return count([text[s:e] for s, e in words])
    windows: list[tuple[int, int]] = []  # [first, last) word of each window
    first = 0
    while first < len(words):
        last = first + 1
        while last < len(words) and words[last][1] - words[first][0] <= _WINDOW_CHARS:
            last += 1
        windows.append((first, last))
        first = last
    counts = [0] * len(words)
    pieces = offsets([text[words[f][0] : words[last - 1][1]] for f, last in windows])
    for (f, last), spans in zip(windows, pieces, strict=True):
        base, w = words[f][0], f
        for start, _ in spans:
            while w < last - 1 and base + start >= words[w][1]:
                w += 1
            counts[w] += 1
    return counts


def _cut_long_sentence(
    text: str, sentence: Sentence, max_tokens: int, count: TokenCounter
) -> list[tuple[Sentence, int]]:
    """Cut a sentence that alone exceeds the budget into word-aligned pieces, with their
    token counts.

    The words are tokenised once and the pieces cut at word offsets by the running sum of
    their counts: linear in the sentence's length. (WordPiece splits at whitespace, so a
    piece's count is its words' sum; for the estimating counter the sum is an upper bound.)
    A word longer than the budget is a piece of its own.
    """
    words = [m.span() for m in _WORD.finditer(text, sentence.start, sentence.end)]
    counts = _word_token_counts(text, words, count)
    pieces: list[tuple[Sentence, int]] = []
    first, total = 0, 0
    for i, n in enumerate(counts):
        if i > first and total + n > max_tokens:
            pieces.append((Sentence(words[first][0], words[i - 1][1]), total))
            first, total = i, 0
        total += n
    if words:
        pieces.append((Sentence(words[first][0], words[-1][1]), total))
    return pieces


def split_passages(
    article_id: str,
    text: str,
    *,
    max_tokens: int = 200,
    overlap_sentences: int = 1,
    count_tokens: TokenCounter = approx_token_count,
) -> list[Passage]:
    """Group sentences into passages of at most ``max_tokens`` tokens.

    Args:
        article_id: id of the article the passages belong to.
        text: the article's stored (cleaned) text; offsets refer to it.
        max_tokens: token budget of one passage (keep it under the model's window).
        overlap_sentences: sentences repeated at the start of the next passage.
        count_tokens: batch token counter (the embedder's tokenizer in production).

    Returns:
        Passages in text order; ``passage.text == text[passage.start:passage.end]``.

    >>> [p.text for p in split_passages("a", "One. Two.", max_tokens=50)]
    ['One. Two.']
    """
    sentences = split_sentences(text)
    if not sentences:
        return []
    counts = count_tokens([text[s.start : s.end] for s in sentences])
    units: list[tuple[Sentence, int]] = []
    for sentence, n in zip(sentences, counts, strict=True):
        if n <= max_tokens:
            units.append((sentence, n))
        else:
            units.extend(_cut_long_sentence(text, sentence, max_tokens, count_tokens))

    passages: list[Passage] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][1] <= max_tokens):
            total += units[j][1]
            j += 1
        start, end = units[i][0].start, units[j - 1][0].end
        passages.append(Passage(article_id=article_id, start=start, end=end, text=text[start:end]))
        if j >= len(units):
            break
        # Step forward, keeping the overlap but always advancing at least one unit.
        i = max(i + 1, j - overlap_sentences)
    return passages
