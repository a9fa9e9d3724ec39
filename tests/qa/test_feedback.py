"""Feedback: stored with the index (not part of its generation), and exported as a test set
that qa-eval reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.stores.base import FeedbackRecord
from qa.engine import Engine
from qa.evaluate import app as eval_app
from qa.feedback import UnknownArticleError, eval_questions, export_test_set, record_feedback
from qa.settings import Settings

SEED_ID = "msn-pakistan-islamic-state"
QUESTION = "How many people has Pakistan arrested?"


def _record(id_: int, helpful: bool, answer: str = "309", **kw: object) -> FeedbackRecord:
    values = {"question": QUESTION, "article_id": SEED_ID, "start": None, "comment": None}
    values |= kw
    return FeedbackRecord(
        id=id_,
        created_at=0.0,
        answer_text=answer,
        helpful=helpful,
        channel="web",
        **values,  # type: ignore[arg-type]
    )


def test_feedback_is_kept_with_the_index_and_changes_nothing_else(demo_index_copy: Path) -> None:
    engine = Engine(Settings(index_dir=demo_index_copy, reader="heuristic"))
    generation = engine.store.generation
    stored = record_feedback(
        engine,
        question=f"  {QUESTION} ",
        answer_text="309",
        article_id=SEED_ID,
        helpful=True,
        comment="   ",
        channel="web",
    )
    assert (stored.question, stored.comment, stored.helpful) == (QUESTION, None, True)
    with pytest.raises(UnknownArticleError, match="no article with id 'nope'"):
        record_feedback(engine, question="q", answer_text="a", article_id="nope", helpful=False)
    assert not engine.store.refresh() and engine.store.generation == generation  # not re-read
    engine.store.close()
    reopened = Engine(Settings(index_dir=demo_index_copy, reader="heuristic"))
    assert reopened.store.list_feedback() == (1, [stored])
    assert reopened.store.list_feedback(helpful=False) == (0, [])


def test_the_latest_word_on_an_answer_counts_and_offsets_are_checked() -> None:
    text = "Intro. Pakistan has arrested 309 people, he said. 309 again."
    records = [
        _record(1, True, start=29),  # right offset: kept
        _record(2, False, answer="25"),  # not helpful: no gold answer
        _record(3, True, question="How many were arrested?", start=999),  # stale offset: found
        _record(4, False, question="how many were ARRESTED?", answer="he said"),
        _record(5, True, question="Who said it?", answer="he said"),
        _record(6, False, question="Who said it?", answer="he said"),  # changed their mind
        _record(7, True, question="Gone?", article_id="deleted"),
    ]
    rows = eval_questions(records, lambda a: text if a == SEED_ID else None)
    assert rows == [
        {
            "id": "feedback-1",
            "question": QUESTION,
            "answers": ["309"],
            "answer_starts": [29],
            "article_id": SEED_ID,
        },
        {
            "id": "feedback-3",
            "question": "How many were arrested?",
            "answers": ["309"],
            "answer_starts": [29],
            "article_id": SEED_ID,
        },
        {
            "id": "feedback-7",
            "question": "Gone?",
            "answers": ["309"],
            "answer_starts": [],
            "article_id": "deleted",
        },
    ]


def test_the_export_is_a_test_set_qa_eval_reads(demo_index_copy: Path, tmp_path: Path) -> None:
    engine = Engine(Settings(index_dir=demo_index_copy, reader="heuristic"))
    answer = engine.ask(QUESTION).answers[0]
    record_feedback(
        engine,
        question=QUESTION,
        answer_text=answer.text,
        article_id=answer.article.id,
        start=answer.start,
        helpful=True,
    )
    record_feedback(
        engine, question="Who won?", answer_text="Chopin", article_id="Warsaw", helpful=False
    )
    path = tmp_path / "feedback.jsonl"
    assert export_test_set(engine.store, path) == 1
    (row,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert row["answer_starts"] == [answer.start] and row["answers"] == [answer.text]
    engine.store.close()

    result = CliRunner().invoke(
        eval_app, [str(path), "--index", str(demo_index_copy), "--reader", "heuristic", "--json"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["questions"] == 1
    assert metrics["exact_match"] == 100.0 and metrics["recall@1"] == 1.0
