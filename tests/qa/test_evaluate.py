"""qa-eval's metric code against hand-computed cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.evaluate import (
    Question,
    exact_match,
    f1_score,
    score_question,
    summarise,
)
from qa.retrieve import Hit
from qa.types import Answer, ArticleRef, AskResult
from tests.conftest import DEV_QUESTIONS

TEXT = "The Orinoco rises in the Parima mountains. It flows 2,140 km to the Atlantic Ocean."
ANSWER_AT = TEXT.index("2,140 km")


def test_exact_match_ignores_case_articles_and_punctuation() -> None:
    assert exact_match("the Atlantic ocean.", "Atlantic Ocean") == 1.0
    assert exact_match("Atlantic", "Atlantic Ocean") == 0.0


def test_f1_by_hand() -> None:
    # prediction "atlantic ocean coast" vs gold "the atlantic ocean": 2 common tokens,
    # precision 2/3, recall 2/2 -> F1 = 2 * (2/3 * 1) / (2/3 + 1) = 0.8
    assert f1_score("Atlantic Ocean coast", "the Atlantic Ocean") == pytest.approx(0.8)
    # repeated tokens count once per occurrence: "km km" vs "km": precision 1/2, recall 1
    assert f1_score("km km", "km") == pytest.approx(2 / 3)
    assert f1_score("Pacific", "Atlantic") == 0.0
    assert f1_score("", "Atlantic") == 0.0
    assert f1_score("the", "a") == 0.0  # both normalise to nothing


def _question(answers: list[str], starts: list[int], article_id: str = "orinoco") -> Question:
    return Question("q1", "How far does the Orinoco flow?", answers, starts, article_id)


def _hit(start: int, end: int, article_id: str = "orinoco") -> Hit:
    return Hit(0, article_id, start, end, TEXT[start:end], 1.0, 0.5, 1, 1)


def _answer(start: int, end: int, quote: tuple[int, int], text: str | None = None) -> Answer:
    return Answer(
        text=TEXT[start:end] if text is None else text,
        start=start,
        end=end,
        quote=TEXT[quote[0] : quote[1]],
        quote_start=quote[0],
        quote_end=quote[1],
        score=0.9,
        article=ArticleRef(id="orinoco", title="Orinoco"),
    )


SECOND_SENTENCE = (TEXT.index("It flows"), len(TEXT))


def test_a_right_answer_scores_full_marks() -> None:
    q = _question(["2,140 km"], [ANSWER_AT])
    result = AskResult(
        question=q.question,
        found=True,
        took_ms=12.0,
        answers=[_answer(ANSWER_AT, ANSWER_AT + 8, SECOND_SENTENCE)],
    )
    # the first passage misses the answer, the second covers it: gold rank 2
    hits = [_hit(0, 42), _hit(43, len(TEXT))]
    outcome = score_question(q, result, hits, lambda _: TEXT)
    assert outcome.gold_rank == 2
    assert (outcome.exact_match, outcome.f1, outcome.in_quote) == (1.0, 1.0, True)
    assert (outcome.verbatim_ok, outcome.verbatim_n) == (1, 1)


def test_a_passage_of_another_article_or_cutting_the_answer_does_not_count() -> None:
    q = _question(["2,140 km"], [ANSWER_AT])
    hits = [_hit(0, len(TEXT), "other"), _hit(0, ANSWER_AT + 4)]
    result = AskResult(question=q.question, found=False, took_ms=5.0)
    outcome = score_question(q, result, hits, lambda _: TEXT)
    assert outcome.gold_rank is None
    assert (outcome.found, outcome.f1, outcome.in_quote, outcome.verbatim_n) == (False, 0, False, 0)


def test_a_partial_answer_and_a_forged_quote() -> None:
    q = _question(["2,140 km", "2,140 kilometres"], [ANSWER_AT, ANSWER_AT])
    partial = _answer(ANSWER_AT, ANSWER_AT + 5, SECOND_SENTENCE)  # "2,140"
    forged = _answer(0, 11, (0, 11), text="The Amazon ")  # offsets do not hold this text
    result = AskResult(question=q.question, found=True, took_ms=7.0, answers=[partial, forged])
    outcome = score_question(q, result, [_hit(0, len(TEXT))], lambda _: TEXT)
    # "2140" vs "2140 km": precision 1, recall 1/2 -> F1 2/3; vs "2140 kilometres" the same
    assert outcome.f1 == pytest.approx(2 / 3)
    assert outcome.exact_match == 0.0
    assert outcome.in_quote  # the quote holds the whole gold answer
    assert (outcome.verbatim_ok, outcome.verbatim_n) == (1, 2)


def test_summary_by_hand() -> None:
    q = _question(["2,140 km"], [ANSWER_AT])
    right = score_question(
        q,
        AskResult(
            question=q.question,
            found=True,
            took_ms=10.0,
            answers=[_answer(ANSWER_AT, ANSWER_AT + 8, SECOND_SENTENCE)],
        ),
        [_hit(0, len(TEXT))],
        lambda _: TEXT,
    )
    wrong_sentence = score_question(
        q,
        AskResult(
            question=q.question,
            found=True,
            took_ms=30.0,
            answers=[_answer(25, 41, (0, 42))],  # "Parima mountains"
        ),
        [_hit(0, 42)] * 5 + [_hit(0, len(TEXT))],
        lambda _: TEXT,
    )
    abstained = score_question(
        q, AskResult(question=q.question, found=False, took_ms=20.0), [], lambda _: TEXT
    )
    rows: list[dict[str, float]] = []
    m = summarise(
        [right, wrong_sentence, abstained],
        out_of_corpus=[None, None, 0.45, None],
        unanswerable=[0.95, None],
        reliability_rows=rows,
    )
    assert m["questions"] == 3
    assert (m["recall@1"], m["recall@5"], m["recall@10"]) == pytest.approx((1 / 3, 1 / 3, 2 / 3))
    assert (m["exact_match"], m["f1"]) == pytest.approx((100 / 3, 100 / 3))
    assert m["answer_in_quote"] == pytest.approx(1 / 3)
    # quotes of the answered questions: 8 and 7 words
    assert m["median_quote_words"] == 7.5
    assert m["verbatim"] == 1.0
    assert m["false_abstain"] == pytest.approx(1 / 3)
    assert (m["latency_p50_ms"], m["latency_p95_ms"]) == pytest.approx((20.0, 29.0))
    assert m["out_of_corpus_questions"] == 4
    assert m["out_of_corpus_abstention"] == 0.75
    assert (m["unanswerable_questions"], m["unanswerable_abstention"]) == (2, 0.5)
    # Shown: 0.9 right, 0.9 wrong (F1 0), 0.45 and 0.95 wrong (no answer was there).
    assert [(r["n"], r["right"]) for r in rows] == [(1, 0.0), (3, pytest.approx(1 / 3))]
    high = (0.9 + 0.9 + 0.95) / 3
    assert m["calibration_error"] == pytest.approx(0.45 / 4 + 3 / 4 * (high - 1 / 3))
    assert m["right_when_score_0.9+"] == pytest.approx(1 / 3)
    assert m["calibration_error_without_unanswerable"] == pytest.approx(0.45 / 3 + 2 / 3 * 0.4)


def test_no_questions_is_an_error() -> None:
    with pytest.raises(ValueError, match="no questions"):
        summarise([])


@pytest.mark.slow
def test_qa_eval_over_the_real_engine_writes_consistent_details(
    demo_index: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from qa.evaluate import app

    details = tmp_path / "details.jsonl"
    result = CliRunner().invoke(
        app,
        [str(DEV_QUESTIONS), "--index", str(demo_index), "--limit", "30"]
        + ["--unanswerable", str(DEV_QUESTIONS.parent / "squad2-dev-unanswerable.jsonl")]
        + ["--details", str(details), "--json"],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    every = [json.loads(line) for line in details.open(encoding="utf-8")]
    rows = [r for r in every if r["kind"] == "answerable"]
    unanswerable = [r for r in every if r["kind"] == "unanswerable"]
    assert metrics["questions"] == len(rows) == 30
    assert metrics["unanswerable_questions"] == len(unanswerable) == 30
    assert metrics["unanswerable_abstention"] == pytest.approx(
        sum(not r["found"] for r in unanswerable) / 30
    )
    assert all(r["f1"] == 0 and r["gold"] == [] for r in unanswerable)
    assert metrics["verbatim"] == 1.0
    assert metrics["recall@1"] <= metrics["recall@5"] <= metrics["recall@10"]
    assert metrics["f1"] == pytest.approx(100 * sum(r["f1"] for r in rows) / 30)
    assert metrics["false_abstain"] == pytest.approx(sum(not r["found"] for r in rows) / 30)
    assert metrics["recall@5"] == pytest.approx(
        sum(r["gold_rank"] is not None and r["gold_rank"] <= 5 for r in rows) / 30
    )
    # the demo index holds every dev article: most of these questions are answered right
    assert metrics["f1"] > 40


NEWS_DEV = Path(__file__).parents[1] / "data" / "news-dev"


def test_the_news_dev_set_quotes_its_articles_verbatim() -> None:
    articles = {
        row["id"]: row["text"]
        for row in map(json.loads, (NEWS_DEV / "articles.jsonl").open(encoding="utf-8"))
    }
    questions = Question.read(NEWS_DEV / "questions.jsonl")
    assert len(questions) == 180 and len({q.id for q in questions}) == 180
    for q in questions:
        text = articles[q.article_id or ""]
        for answer, start in zip(q.answers, q.answer_starts, strict=True):
            assert text[start : start + len(answer)] == answer, q.id
    elsewhere = Question.read(NEWS_DEV / "not_in_corpus.jsonl")
    assert len(elsewhere) == 50 and not any(q.answers for q in elsewhere)


# What the bundled reader does on the news dev set (docs/benchmarks.md): F1 81.1, answer in
# quote 0.878, "not found" 0.68, calibration error 0.059, false abstains 0.017. The bounds
# leave room for sampling noise (180 and 50 questions) and catch a reader or a cleaner that
# reads news worse; answer in quote and calibration error are the news goals.
NEWS_BOUNDS = {"f1": 75.0, "answer_in_quote": 0.80, "out_of_corpus_abstention": 0.60}


@pytest.mark.slow
def test_news_answers_stay_within_their_measured_bounds(tmp_path: Path) -> None:
    from indexer.load import load_path
    from qa.engine import Engine
    from qa.evaluate import evaluate
    from qa.settings import Settings

    engine = Engine(Settings(index_dir=tmp_path / "news"))
    report = engine.add(load_path(NEWS_DEV / "articles.jsonl"))
    assert not report.errors and len(report.added) == 163
    engine.update_bm25()
    metrics = evaluate(
        engine.warm_up(),
        Question.read(NEWS_DEV / "questions.jsonl"),
        out_of_corpus=Question.read(NEWS_DEV / "not_in_corpus.jsonl"),
        k=5,
        progress=False,
    )
    assert metrics["verbatim"] == 1.0
    for name, floor in NEWS_BOUNDS.items():
        assert metrics[name] >= floor, (name, metrics[name])  # type: ignore[operator]
    assert metrics["false_abstain"] <= 0.05  # type: ignore[operator]
    assert metrics["calibration_error"] <= 0.10  # type: ignore[operator]
