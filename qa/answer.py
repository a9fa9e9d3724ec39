"""Turn reader spans inside retrieved passages into verbatim answers with article offsets."""

from __future__ import annotations

from collections.abc import Sequence

from qa import derived
from qa.read.base import Span
from qa.retrieve import Hit
from qa.types import Answer, ArticleRef


def quote_bounds(
    passage_text: str,
    start: int,
    end: int,
    evidence: Sequence[Span] = (),
    neighbour_share: float | None = None,
    min_words: int = 0,
) -> tuple[int, int]:
    """The sentence(s) of ``passage_text`` that hold ``[start, end)``, as passage offsets.

    A sentence next to them in the same paragraph joins the quote when the reader's spans in
    it (``evidence``, spans of the same passage) weigh at least ``neighbour_share`` of the
    answer sentence's: the reader itself says the answer may lie there, and the quote then
    shows both. A quote still shorter than ``min_words`` words is too bare to judge the
    answer by: it takes the neighbour the reader weighs more (the next sentence on a tie).
    """
    sentences = derived.sentences(passage_text)
    covering = [i for i, s in enumerate(sentences) if s.start < end and s.end > start]
    if not covering:
        return start, end
    first, last = covering[0], covering[-1]
    mass = [0.0] * len(sentences)
    for span in evidence:
        for i, s in enumerate(sentences):
            if s.start <= span.start < s.end:
                mass[i] += span.score
                break

    def joins(i: int, j: int) -> bool:
        """Sentences i < j are neighbours in one paragraph (no line break between them)."""
        return (
            i >= 0
            and j < len(sentences)
            and "\n" not in passage_text[sentences[i].end : sentences[j].start]
        )

    if neighbour_share is not None:
        floor = neighbour_share * max(mass[i] for i in covering)
        if joins(first - 1, first) and 0 < floor <= mass[first - 1]:
            first -= 1
        if joins(last, last + 1) and 0 < floor <= mass[last + 1]:
            last += 1
    quote_words = len(passage_text[sentences[first].start : sentences[last].end].split())
    if quote_words < min_words:
        before = mass[first - 1] if joins(first - 1, first) else None
        after = mass[last + 1] if joins(last, last + 1) else None
        if after is not None and (before is None or after >= before):
            last += 1
        elif before is not None:
            first -= 1
    return min(sentences[first].start, start), max(sentences[last].end, end)


def answer_and_sentence(hit: Hit, span: Span, title: str) -> tuple[str, str]:
    """The span's text and the sentence(s) that hold it (the title, for a title span)."""
    if span.field == "title":
        return title[span.start : span.end], title
    start, end = quote_bounds(hit.text, span.start, span.end)
    return hit.text[span.start : span.end], hit.text[start:end]


def build_answers(
    hits: Sequence[Hit],
    spans: Sequence[Span],
    scores: Sequence[float],
    refs: dict[str, tuple[str, str | None]],
    k: int,
    neighbour_share: float | None = None,
    min_words: int = 0,
) -> list[Answer]:
    """Up to ``k`` answers, best first, one per distinct place in the articles.

    Spans from overlapping passages that land on the same article text are merged. Each
    quote is the answer's sentence, with a neighbour that holds at least ``neighbour_share``
    of the reader's span mass, and a quote under ``min_words`` words one more sentence (see
    :func:`quote_bounds`).
    """
    answers: list[Answer] = []
    taken: list[tuple[str, str, int, int]] = []
    # Ties (same passage, same calibrated score) fall back to the reader's own order.
    ranked = sorted(zip(spans, scores, strict=True), key=lambda x: (x[1], x[0].score), reverse=True)
    for span, score in ranked:
        hit = hits[span.passage_index]
        if hit.article_id not in refs:
            continue  # the article was deleted between retrieval and now
        title, url = refs[hit.article_id]
        ref = ArticleRef(id=hit.article_id, title=title, url=url)
        if span.field == "title":
            # an answer in the headline: the quote is the headline
            if any(t == (hit.article_id, "title", span.start, span.end) for t in taken):
                continue
            answers.append(
                Answer(
                    text=title[span.start : span.end],
                    field="title",
                    start=span.start,
                    end=span.end,
                    quote=title,
                    quote_start=0,
                    quote_end=len(title),
                    score=round(float(score), 4),
                    article=ref,
                )
            )
            taken.append((hit.article_id, "title", span.start, span.end))
        else:
            start, end = hit.start + span.start, hit.start + span.end
            if any(
                a == hit.article_id and f == "text" and s < end and start < e
                for a, f, s, e in taken
            ):
                continue
            furniture = derived.furniture(hit.text)
            if any(s < span.end and span.start < e for s, e in furniture):
                continue  # datelines, captions and promos are never answers
            evidence = [
                other
                for other in spans
                if other.passage_index == span.passage_index and other.field == "text"
            ]
            q_start, q_end = quote_bounds(
                hit.text, span.start, span.end, evidence, neighbour_share, min_words
            )
            q_start, q_end = _without_furniture(hit.text, q_start, q_end, span, furniture)
            answers.append(
                Answer(
                    text=hit.text[span.start : span.end],
                    start=start,
                    end=end,
                    quote=hit.text[q_start:q_end],
                    quote_start=hit.start + q_start,
                    quote_end=hit.start + q_end,
                    score=round(float(score), 4),
                    article=ref,
                )
            )
            taken.append((hit.article_id, "text", start, end))
        if len(answers) >= k:
            break
    return answers


def _without_furniture(
    text: str, q_start: int, q_end: int, span: Span, furniture: Sequence[tuple[int, int]]
) -> tuple[int, int]:
    """Quote bounds moved off the news furniture (a dateline opening the sentence, a caption
    or promo line beside it) at either end, never past the answer itself."""
    for s, e in furniture:
        if s <= q_start < e and e <= span.start:
            q_start = e
        if s < q_end <= e and s >= span.end:
            q_end = s
    while q_start < span.start and text[q_start].isspace():
        q_start += 1
    while q_end > span.end and text[q_end - 1].isspace():
        q_end -= 1
    return q_start, q_end
