"""How much the reader reads of the ranked passages: a window of the best one first, then the
whole of it, then the next ones, each step only when the reader doubts the last.

The reader's cost grows with every token it reads, so it reads the best passage first and the
next ones only when that one's best span scores below ``more_below`` or the reader doubts the
passage answers at all (``more_no_answer``). The best passage itself is first read as a window
around the reranker's best sentence pair (``window_tokens``, :meth:`ReadCascade.focus_window`),
and whole only when the same two rules doubt the window.

Every passage is read after its article's title, with news furniture (datelines, captions,
promos) blanked out at equal length; the spans come back as offsets into the passage, or into
the title (``field="title"``) for an answer in the headline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from qa import derived
from qa.read.base import Reader, Span
from qa.retrieve import Hit

# Word pieces of each text, in one batch.
TokenCounter = Callable[[Sequence[str]], list[int]]
# A part of a passage to read: the passage and [start, end) in its text.
Part = tuple[Hit, int, int]
TOP_SPANS = 10  # spans kept from each read


def reader_order(span: Span) -> tuple[float, float]:
    """The reader's own order: score, then raw logit."""
    return -span.score, -span.logit


@dataclass(frozen=True)
class ReadCascade:
    """The reader and the rules for how much of the passages it reads.

    Args:
        reader: the reader.
        count_tokens: sizes the best passage's window (word pieces).
        window_tokens: the window's budget; 0 reads the best passage whole.
        more_below: read on when the best span scores below this (1.0: read every passage
            given, whole, at once).
        more_no_answer: ... or when the reader gives at least this probability of no answer.
    """

    reader: Reader
    count_tokens: TokenCounter
    window_tokens: int
    more_below: float
    more_no_answer: float

    def read(
        self, question: str, passages: Sequence[Hit], titles: Mapping[str, str]
    ) -> tuple[list[Hit], list[Span]]:
        """The passages read (best first, a prefix of ``passages``) and the reader's spans in
        them (``span.passage_index`` indexes the passages read), at most ten, in the reader's
        order. ``titles``: article id → title, read before each passage."""
        read = list(passages)
        if not read:
            return [], []
        window = self.focus_window(read[0]) if self.more_below < 1.0 else None
        if window is not None:
            spans = self._read(question, [(read[0], *window)], titles)
            if self._sure(spans):
                return read[:1], spans
        if self.more_below >= 1.0 or len(read) == 1:
            return read, self._read(question, [_whole(h) for h in read], titles)
        # The whole passage alone first (when the reader is idle, on all its cores), then the
        # next ones side by side: the doubted window's passage is sure often enough (dev: 81 of
        # 680 times) that reading the next ones with it wastes more than it saves.
        spans = self._read(question, [_whole(read[0])], titles)
        if self._sure(spans):
            return read[:1], spans
        more = self._read(question, [_whole(h) for h in read[1:]], titles)
        shifted = [dataclasses.replace(s, passage_index=s.passage_index + 1) for s in more]
        return read, sorted(spans + shifted, key=reader_order)[:TOP_SPANS]

    def focus_window(self, hit: Hit) -> tuple[int, int] | None:
        """``[start, end)`` in ``hit.text`` of the whole sentences around the reranker's best
        sentence pair that fit ``window_tokens`` word pieces, grown one sentence at a time on
        alternate sides; None when the budget is 0 (off) or the passage fits anyway."""
        budget = self.window_tokens
        if not budget or hit.focus is None:
            return None
        sentences = derived.sentences(hit.text)
        counts = derived.sentence_tokens(hit.text, self.count_tokens)
        if sum(counts) <= budget:
            return None
        lo = next(i for i, s in enumerate(sentences) if s.start >= hit.focus[0])
        hi = max(i for i, s in enumerate(sentences) if s.end <= hit.focus[1])
        used = sum(counts[lo : hi + 1])
        grown = True
        while grown:
            grown = False
            if lo > 0 and used + counts[lo - 1] <= budget:
                lo, used, grown = lo - 1, used + counts[lo - 1], True
            if hi + 1 < len(sentences) and used + counts[hi + 1] <= budget:
                hi, used, grown = hi + 1, used + counts[hi + 1], True
        return sentences[lo].start, sentences[hi].end

    def _sure(self, spans: list[Span]) -> bool:
        return bool(spans) and (
            spans[0].score >= self.more_below and spans[0].no_answer < self.more_no_answer
        )

    def _read(self, question: str, parts: Sequence[Part], titles: Mapping[str, str]) -> list[Span]:
        """Read ``hit.text[start:end]`` of each part after its article's title (see the module's
        docstring); the spans as offsets into ``hit.text`` or into the title."""
        texts, prefixes = self._reader_texts(parts, titles)
        found = self.reader.read(question, texts, top_n=TOP_SPANS)
        return self._in_passages(found, parts, texts, prefixes, titles)

    @staticmethod
    def _reader_texts(
        parts: Sequence[Part], titles: Mapping[str, str]
    ) -> tuple[list[str], list[int]]:
        """What the reader reads for each part, and the length of the title prefix before its
        body."""
        texts: list[str] = []
        prefixes: list[int] = []
        for hit, start, end in parts:
            title = " ".join(titles.get(hit.article_id, "").split())
            body = derived.masked(hit.text)[start:end]
            # a passage that opens with the headline reads it already
            prefix = f"{title}\n\n" if title and not body.lstrip().startswith(title) else ""
            texts.append(prefix + body)
            prefixes.append(len(prefix))
        return texts, prefixes

    @staticmethod
    def _in_passages(
        found: Sequence[Span],
        parts: Sequence[Part],
        texts: list[str],
        prefixes: list[int],
        titles: Mapping[str, str],
    ) -> list[Span]:
        """The reader's spans in ``texts`` as offsets into their passages (or titles)."""
        spans: list[Span] = []
        for span in found:
            hit, start, _ = parts[span.passage_index]
            skip = prefixes[span.passage_index]
            if span.start >= skip:
                spans.append(
                    dataclasses.replace(
                        span, start=span.start - skip + start, end=span.end - skip + start
                    )
                )
            elif skip and span.end <= skip - 2:
                title = titles[hit.article_id]
                spans.extend(_title_span(span, title, texts[span.passage_index]))
        return spans


def _whole(hit: Hit) -> Part:
    return hit, 0, len(hit.text)


def _title_span(span: Span, title: str, read_text: str) -> list[Span]:
    """A span read in the (whitespace-folded) title as offsets into the stored title."""
    words = read_text[span.start : span.end]
    at = title.find(words)
    if at < 0:  # the stored title has other whitespace: quote it only when it is the same
        return []
    return [dataclasses.replace(span, start=at, end=at + len(words), field="title")]
