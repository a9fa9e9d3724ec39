"""Feedback kept with the index, exported as a ``qa-eval`` test set (the answers readers
found helpful)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from indexer.stores.base import FeedbackRecord, Store


def eval_questions(
    records: Iterable[FeedbackRecord], article_text: Callable[[str], str | None]
) -> list[dict]:
    """``qa-eval`` questions (``{id, question, answers, answer_starts, article_id}``) from
    the answers found helpful. Of several records on one question and answer the latest
    counts (a reader may change their mind); the answer's offset is the one recorded when it
    still points at the answer, else its first place in the article (none if it is gone)."""
    latest: dict[tuple[str, str, str], FeedbackRecord] = {}
    for record in records:
        latest[(record.question.casefold(), record.article_id, record.answer_text)] = record
    rows = []
    for record in sorted(latest.values(), key=lambda r: r.id):
        if not record.helpful:
            continue
        text = article_text(record.article_id) or ""
        start = record.start
        if start is None or text[start : start + len(record.answer_text)] != record.answer_text:
            found = text.find(record.answer_text)
            start = found if found >= 0 else None
        rows.append(
            {
                "id": f"feedback-{record.id}",
                "question": record.question,
                "answers": [record.answer_text],
                "answer_starts": [] if start is None else [start],
                "article_id": record.article_id,
            }
        )
    return rows


def export_test_set(store: Store, path: Path) -> int:
    """Write :func:`eval_questions` of all feedback to ``path`` as JSONL; returns the line count."""
    _, records = store.list_feedback(0, 2**31 - 1)

    def article_text(article_id: str) -> str | None:
        article = store.get_article(article_id)
        return article.text if article else None

    rows = eval_questions(records, article_text)
    with path.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return len(rows)
