"""What the asking path derives from a passage's text, made once per text and kept in memory.

One ask splits its 20 reranked candidates into sentences, finds the best passage's news
furniture, counts the word pieces of its sentences and splits it again for the quote; the
same passages come back for question after question. The caches are keyed by the text itself
(a passage whose text changes is a new key, so nothing stale is ever returned), bounded, and
safe across threads (``functools.lru_cache``). The values are tuples: shared, so never
mutated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from core.text.clean import boilerplate_spans, mask_boilerplate
from core.text.sentences import Sentence, split_sentences

# Passages kept per cache: the hot set of a busy index (at most ~25 MiB for the four caches
# and the reader's word pieces: texts of ~1.5 KB, their spans and tokens).
PASSAGES_CACHED = 2048


@functools.lru_cache(maxsize=PASSAGES_CACHED)
def sentences(text: str) -> tuple[Sentence, ...]:
    """:func:`core.text.sentences.split_sentences` of ``text``."""
    return tuple(split_sentences(text))


@functools.lru_cache(maxsize=PASSAGES_CACHED)
def furniture(text: str) -> tuple[tuple[int, int], ...]:
    """:func:`core.text.clean.boilerplate_spans` of ``text``."""
    return tuple(boilerplate_spans(text))


@functools.lru_cache(maxsize=PASSAGES_CACHED)
def masked(text: str) -> str:
    """:func:`core.text.clean.mask_boilerplate` of ``text`` (its furniture blanked out)."""
    return mask_boilerplate(text, list(furniture(text)))


@functools.lru_cache(maxsize=PASSAGES_CACHED)
def sentence_tokens(
    text: str, count_tokens: Callable[[Sequence[str]], list[int]]
) -> tuple[int, ...]:
    """The word pieces of each of ``text``'s :func:`sentences`, counted by ``count_tokens``."""
    return tuple(count_tokens([text[s.start : s.end] for s in sentences(text)]))
