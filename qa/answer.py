"""Turn reader spans inside retrieved passages into verbatim answers with article offsets."""

from __future__ import annotations

from collections.abc import Sequence

from indexer.split import split_sentences
from qa.read.base import Span
from qa.retrieve import Hit
from qa.types import Answer, ArticleRef


def quote_bounds(passage_text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence(s) of ``passage_text`` that hold ``[start, end)``, as passage offsets."""
    sentences = split_sentences(passage_text)
    covering = [s for s in sentences if s.start < end and s.end > start]
    if not covering:
        return start, end
    return min(covering[0].start, start), max(covering[-1].end, end)


def build_answers(
    hits: Sequence[Hit],
    spans: Sequence[Span],
    scores: Sequence[float],
    refs: dict[str, tuple[str, str | None]],
    k: int,
) -> list[Answer]:
    """Up to ``k`` answers, best first, one per distinct place in the articles.

    Spans from overlapping passages that land on the same article text are merged.
    """
    answers: list[Answer] = []
    taken: list[tuple[str, int, int]] = []
    # Ties (same passage, same calibrated score) fall back to the reader's own order.
    ranked = sorted(zip(spans, scores, strict=True), key=lambda x: (x[1], x[0].score), reverse=True)
    for span, score in ranked:
        hit = hits[span.passage_index]
        start, end = hit.start + span.start, hit.start + span.end
        if any(a == hit.article_id and s < end and start < e for a, s, e in taken):
            continue
        if hit.article_id not in refs:
            continue  # the article was deleted between retrieval and now
        q_start, q_end = quote_bounds(hit.text, span.start, span.end)
        title, url = refs[hit.article_id]
        answers.append(
            Answer(
                text=hit.text[span.start : span.end],
                start=start,
                end=end,
                quote=hit.text[q_start:q_end],
                quote_start=hit.start + q_start,
                quote_end=hit.start + q_end,
                score=round(float(score), 4),
                article=ArticleRef(id=hit.article_id, title=title, url=url),
            )
        )
        taken.append((hit.article_id, start, end))
        if len(answers) >= k:
            break
    return answers
