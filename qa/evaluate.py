"""``qa-eval``: score the engine on questions with gold answers (SQuAD-style JSONL).

Metrics: retrieval recall@1/5/10 (a retrieved passage's ``[start, end)`` covers a gold answer
span), EM and F1 (official SQuAD normalisation), answer-in-quote rate and median quote length,
verbatim rate, false-abstain rate, abstention on out-of-corpus questions (about articles not
indexed) and on unanswerable ones (about indexed articles, SQuAD 2.0 style), latency p50/p95,
and how well the shown score is calibrated: the expected calibration error over every answer
shown (10 score bins; right = token F1 >= 0.5 to a gold answer; any answer to an out-of-corpus
or unanswerable question is wrong) and its reliability table.
"""

from __future__ import annotations

import functools
import json
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import track
from rich.table import Table

from core.cli import IndexOption, console, settings_for
from core.text.words import normalize_answer
from qa.confidence import reliability
from qa.retrieve import Hit
from qa.types import AskResult

app = typer.Typer(add_completion=False)


def f1_score(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


@dataclass
class Question:
    id: str
    question: str
    answers: list[str]
    answer_starts: list[int]
    article_id: str | None

    @classmethod
    def read(cls, path: Path, limit: int | None = None) -> list[Question]:
        rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
        if limit and limit < len(rows):
            # An even spread over the file, so every article is represented.
            rows = rows[:: len(rows) // limit][:limit]
        return [
            cls(
                id=r["id"],
                question=r["question"],
                answers=r.get("answers", []),
                answer_starts=r.get("answer_starts", []),
                article_id=r.get("article_id"),
            )
            for r in rows
        ]


@dataclass
class Outcome:
    """How the engine did on one question (one line of ``qa-eval --details``)."""

    id: str
    question: str
    gold: list[str]
    found: bool
    answer: str | None  # the best answer's text
    score: float | None  # the best answer's score
    quote: str | None
    answer_article: str | None
    gold_rank: int | None  # 1-based rank of the first retrieved passage covering a gold span
    exact_match: float
    f1: float
    in_quote: bool
    verbatim_ok: int  # answers whose text and quote are the article text at their offsets
    verbatim_n: int
    took_ms: float
    # "answerable", or a question the articles do not answer: "out_of_corpus", "unanswerable"
    kind: str = "answerable"


def score_question(
    q: Question,
    result: AskResult,
    hits: Sequence[Hit],
    article_text: Callable[[str], str],
    kind: str = "answerable",
) -> Outcome:
    """Score one engine reply against the gold answers (``article_text(id)`` for verbatim)."""
    gold_spans = [(s, s + len(a)) for a, s in zip(q.answers, q.answer_starts, strict=False)]
    gold_rank = next(
        (
            rank
            for rank, h in enumerate(hits, 1)
            if h.article_id == q.article_id
            and any(h.start <= s and e <= h.end for s, e in gold_spans)
        ),
        None,
    )
    verbatim_ok = 0
    for a in result.answers:
        text = a.article.title if a.field == "title" else article_text(a.article.id)
        verbatim_ok += (
            text[a.start : a.end] == a.text and text[a.quote_start : a.quote_end] == a.quote
        )
    best = result.answers[0] if result.found and result.answers else None
    em = f1 = 0.0
    in_quote = False
    if best:
        em = max((exact_match(best.text, g) for g in q.answers), default=0.0)
        f1 = max((f1_score(best.text, g) for g in q.answers), default=0.0)
        quote = normalize_answer(best.quote)
        in_quote = any(normalize_answer(g) in quote for g in q.answers)
    return Outcome(
        id=q.id,
        question=q.question,
        gold=q.answers,
        found=best is not None,
        answer=best.text if best else None,
        score=best.score if best else None,
        quote=best.quote if best else None,
        answer_article=best.article.id if best else None,
        gold_rank=gold_rank,
        exact_match=em,
        f1=f1,
        in_quote=in_quote,
        verbatim_ok=verbatim_ok,
        verbatim_n=len(result.answers),
        took_ms=result.took_ms,
        kind=kind,
    )


RIGHT_F1 = 0.5  # a shown answer counts as right for calibration at this token F1


def summarise(
    outcomes: Sequence[Outcome],
    out_of_corpus: Sequence[float | None] | None = None,
    unanswerable: Sequence[float | None] | None = None,
    reliability_rows: list[dict[str, float]] | None = None,
) -> dict[str, float | int | None]:
    """The metrics of the module docstring over the questions' outcomes.

    EM, F1 and answer-in-quote count an abstention as a miss; the median quote length is over
    the answered questions; verbatim is over every answer returned. ``out_of_corpus`` and
    ``unanswerable`` hold the best answer's score per such question (None: "not found"); the
    reliability table goes to ``reliability_rows`` when given.
    """
    n = len(outcomes)
    if not n:
        raise ValueError("no questions to score")

    def rate(values: Iterable[float]) -> float:
        return sum(values) / n

    def recall(k: int) -> float:
        return rate(o.gold_rank is not None and o.gold_rank <= k for o in outcomes)

    answered = [o for o in outcomes if o.found]
    verbatim_n = sum(o.verbatim_n for o in outcomes)
    latencies = [o.took_ms for o in outcomes]
    metrics: dict[str, float | int | None] = {
        "questions": n,
        "recall@1": recall(1),
        "recall@5": recall(5),
        "recall@10": recall(10),
        "exact_match": 100 * rate(o.exact_match for o in outcomes),
        "f1": 100 * rate(o.f1 for o in outcomes),
        "answer_in_quote": rate(o.in_quote for o in outcomes),
        "median_quote_words": (
            statistics.median(len((o.quote or "").split()) for o in answered) if answered else None
        ),
        "verbatim": sum(o.verbatim_ok for o in outcomes) / verbatim_n if verbatim_n else 1.0,
        "false_abstain": rate(not o.found for o in outcomes),
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p95_ms": float(np.percentile(latencies, 95)),
    }
    shown = [(o.score, o.f1 >= RIGHT_F1) for o in answered if o.score is not None]
    for name, scores in (("out_of_corpus", out_of_corpus), ("unanswerable", unanswerable)):
        if scores:
            metrics[f"{name}_questions"] = len(scores)
            metrics[f"{name}_abstention"] = sum(s is None for s in scores) / len(scores)
            shown += [(s, False) for s in scores if s is not None]
        if name == "out_of_corpus" and unanswerable:
            # The error depends on the mix of questions: also without the unanswerable ones.
            metrics["calibration_error_without_unanswerable"] = reliability(
                [s for s, _ in shown], [r for _, r in shown]
            )[0]
    ece, rows = reliability([s for s, _ in shown], [r for _, r in shown])
    metrics["calibration_error"] = ece
    high = [r for s, r in shown if s >= 0.9]
    metrics["right_when_score_0.9+"] = sum(high) / len(high) if high else None
    if reliability_rows is not None:
        reliability_rows.extend(rows)
    return metrics


def evaluate(
    engine,  # noqa: ANN001 - qa.engine.Engine (imported lazily: slow import)
    questions: list[Question],
    out_of_corpus: list[Question] | None = None,
    k: int = 3,
    progress: bool = True,
    details: list[Outcome] | None = None,
    unanswerable: list[Question] | None = None,
    reliability_rows: list[dict[str, float]] | None = None,
) -> dict[str, float | int | None]:
    """Ask every question and compute the metrics (each question's outcome goes to
    ``details``, the reliability table to ``reliability_rows``, when given)."""

    @functools.cache
    def article_text(article_id: str) -> str:
        article = engine.get_article(article_id)
        return article.text if article else ""

    outcomes = []
    for q in track(questions, description="asking", disable=not progress, console=console):
        result, hits = engine.ask_traced(q.question, k=k, depth=10)
        outcomes.append(score_question(q, result, hits[:10], article_text))

    unanswered: list[Outcome] = []  # questions the articles do not answer

    def best_scores(asked: list[Question] | None, kind: str) -> list[float | None] | None:
        if not asked:
            return None
        scores: list[float | None] = []
        what = kind.replace("_", " ")
        for q in track(asked, description=what, disable=not progress, console=console):
            result = engine.ask(q.question, k=k)
            scores.append(result.answers[0].score if result.found else None)
            if details is not None:
                unanswered.append(score_question(q, result, [], article_text, kind))
        return scores

    elsewhere = best_scores(out_of_corpus, "out_of_corpus")
    impossible = best_scores(unanswerable, "unanswerable")
    if details is not None:
        details.extend(outcomes + unanswered)
    return summarise(outcomes, elsewhere, impossible, reliability_rows)


@app.command()
def main(
    questions: Annotated[
        Path,
        typer.Argument(
            help="Questions JSONL: {id, question, answers, answer_starts, article_id}.",
            exists=True,
            dir_okay=False,
        ),
    ],
    index: IndexOption = None,
    out_of_corpus: Annotated[
        Path | None,
        typer.Option(
            "--out-of-corpus",
            help="Questions about articles NOT in the index: they should get found=false.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    unanswerable: Annotated[
        Path | None,
        typer.Option(
            "--unanswerable",
            help="Questions about indexed articles that they do not answer (SQuAD 2.0 style): "
            "they should get found=false.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(metavar="N", help="Ask only this many (an even spread).")
    ] = None,
    k: Annotated[int, typer.Option("-k", metavar="N", help="Answers per question.")] = 3,
    reader: Annotated[
        str | None, typer.Option(help="trained or heuristic (default: $QA_READER)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the metrics as JSON here.")
    ] = None,
    details: Annotated[
        Path | None,
        typer.Option(
            help="Write each question's outcome here as JSONL (answer, F1, rank of the gold "
            "passage...; kind: answerable, unanswerable or out_of_corpus), to see "
            "where the misses come from."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Score retrieval and answers on questions with gold answers (SQuAD-style)."""
    from qa.engine import Engine

    settings = settings_for(index, reader=reader)
    engine = Engine(settings)
    engine.update_bm25()  # scores from the BM25 index, never from FTS5 while it builds
    engine.warm_up()
    outcomes: list[Outcome] = []
    rows: list[dict[str, float]] = []
    metrics = evaluate(
        engine,
        Question.read(questions, limit),
        Question.read(out_of_corpus, limit) if out_of_corpus else None,
        k=k,
        progress=not as_json,
        details=outcomes,
        unanswerable=Question.read(unanswerable, limit) if unanswerable else None,
        reliability_rows=rows,
    )
    if details:
        with details.open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(asdict(o), ensure_ascii=False) + "\n" for o in outcomes)
    report: dict[str, Any] = {**metrics, "reader": engine.reader.name, "reliability": rows}
    if output:
        output.write_text(json.dumps(report, indent=2))
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table(title=f"qa-eval {questions.name} ({report['reader']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report.items():
        if key != "reliability":
            table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)
    shown = Table(title="reliability of the shown score (right: F1 >= 0.5)")
    for column in ("score", "answers", "mean score", "right"):
        shown.add_column(column, justify="right")
    for row in rows:
        shown.add_row(
            f"{row['low']:.1f}-{row['high']:.1f}",
            str(row["n"]),
            f"{row['score']:.3f}",
            f"{row['right']:.3f}",
        )
    console.print(shown)
