"""What the engine adds to built answers: the article's publish date, the deep link to the
quote, and which of two differing answers comes from the newer article.

>>> from qa.types import Answer, ArticleRef
>>> def answer(text, article_id):
...     ref = ArticleRef(id=article_id, title=article_id)
...     return Answer(text=text, start=0, end=len(text), quote=text, quote_start=0,
...                   quote_end=len(text), score=0.9, article=ref)
>>> dates = {"a": "2016-09-08", "b": "2017-03-01"}
>>> old, new = annotate([answer("309", "a"), answer("412", "b")], dates)
>>> new.newer_than, old.newer_than, new.article.published
(['a'], [], '2017-03-01')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.text.words import normalize_answer
from qa.links import text_fragment_link
from qa.types import Answer


def _same_answer(a: str, b: str) -> bool:
    """Whether two answer spans say the same (case, punctuation, articles and spacing aside)."""
    return normalize_answer(a) == normalize_answer(b)


def is_newer(published: str, other: str) -> bool:
    """Whether ``published`` is later than ``other`` (stored ISO 8601 forms). A date and a
    date-time of the same day are not ordered: a date has no time to compare."""
    if len(published) != len(other):
        return published[:10] > other[:10]
    return published > other


def annotate(answers: Sequence[Answer], dates: Mapping[str, str | None]) -> list[Answer]:
    """``answers`` with ``article.published`` from ``dates`` (article id → stored date), the
    ``link`` to each quote (:func:`~qa.links.text_fragment_link`) and ``newer_than``: the
    other articles here whose answer differs and that were published earlier."""
    dated = [
        a.model_copy(
            update={
                "article": a.article.model_copy(update={"published": dates.get(a.article.id)}),
                "link": text_fragment_link(a.article.url, a.quote),
            }
        )
        for a in answers
    ]
    for answer in dated:
        mine = answer.article.published
        if mine is None:
            continue
        older = [
            other.article.id
            for other in dated
            if other.article.id != answer.article.id
            and other.article.published is not None
            and not _same_answer(other.text, answer.text)
            and is_newer(mine, other.article.published)
        ]
        answer.newer_than = list(dict.fromkeys(older))
    return dated
