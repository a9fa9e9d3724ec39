"""Feedback on answers: recorded from the web page, Slack and the API; kept with the index;
exported as a ``qa-eval`` test set (the answers readers found helpful).

>>> record_feedback(engine, question="How many were arrested?", answer_text="309",
...                 article_id="msn-pakistan-islamic-state", helpful=True)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from indexer.feedback import eval_questions, export_test_set
from indexer.stores.base import FeedbackRecord

if TYPE_CHECKING:
    from qa.engine import Engine

__all__ = ["UnknownArticleError", "eval_questions", "export_test_set", "record_feedback"]

Channel = Literal["web", "slack", "api"]


class UnknownArticleError(LookupError):
    """Feedback names an article the index does not hold."""


def record_feedback(
    engine: Engine,
    *,
    question: str,
    answer_text: str,
    article_id: str,
    helpful: bool,
    comment: str | None = None,
    start: int | None = None,
    channel: Channel = "api",
) -> FeedbackRecord:
    """Store feedback on an answer of ``article_id``.

    Raises:
        UnknownArticleError: no such article in the index.
    """
    if not engine.store.article_dates([article_id]):
        raise UnknownArticleError(f"no article with id {article_id!r}")
    comment = (comment or "").strip() or None
    return engine.store.add_feedback(
        question=question.strip(),
        answer_text=answer_text,
        article_id=article_id,
        helpful=helpful,
        comment=comment,
        start=start,
        channel=channel,
    )
