"""``qa-eval``: score the engine on questions with gold answers (SQuAD-style JSONL).

Metrics: retrieval recall@1/5/10 (a retrieved passage's ``[start, end)`` covers a gold answer
span), EM and F1 (official SQuAD normalisation), answer-in-quote rate and median quote length,
verbatim rate, false-abstain rate, abstention on out-of-corpus questions, latency p50/p95.
"""

from __future__ import annotations

import json
import re
import statistics
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from qa.settings import Settings

app = typer.Typer(add_completion=False)
console = Console()

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's official normalisation: lower, strip punctuation and articles, fold spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


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


def evaluate(
    engine,  # noqa: ANN001 - qa.engine.Engine (imported lazily: slow import)
    questions: list[Question],
    out_of_corpus: list[Question] | None = None,
    k: int = 3,
    progress: bool = True,
) -> dict[str, float | int | None]:
    """Ask every question and compute the metrics of the module docstring."""
    texts: dict[str, str] = {}
    recall = {1: 0, 5: 0, 10: 0}
    em = f1 = in_quote = verbatim_ok = verbatim_n = abstained = 0.0
    quote_words: list[int] = []
    latencies: list[float] = []
    for q in track(questions, description="asking", disable=not progress, console=console):
        result, hits = engine.ask_traced(q.question, k=k, depth=10)
        latencies.append(result.took_ms)
        gold = [(s, s + len(a)) for a, s in zip(q.answers, q.answer_starts, strict=False)]
        for n in recall:
            if any(
                h.article_id == q.article_id and any(h.start <= s and e <= h.end for s, e in gold)
                for h in hits[:n]
            ):
                recall[n] += 1
        if not result.found:
            abstained += 1
            continue
        best = result.answers[0]
        em += max(exact_match(best.text, g) for g in q.answers)
        f1 += max(f1_score(best.text, g) for g in q.answers)
        quote = normalize_answer(best.quote)
        in_quote += any(normalize_answer(g) in quote for g in q.answers)
        quote_words.append(len(best.quote.split()))
        for a in result.answers:
            if a.article.id not in texts:
                article = engine.get_article(a.article.id)
                texts[a.article.id] = article.text if article else ""
            text = texts[a.article.id]
            verbatim_n += 1
            verbatim_ok += (
                text[a.start : a.end] == a.text and text[a.quote_start : a.quote_end] == a.quote
            )
    n = len(questions)
    metrics: dict[str, float | int | None] = {
        "questions": n,
        "recall@1": recall[1] / n,
        "recall@5": recall[5] / n,
        "recall@10": recall[10] / n,
        "exact_match": 100 * em / n,
        "f1": 100 * f1 / n,
        "answer_in_quote": in_quote / n,
        "median_quote_words": statistics.median(quote_words) if quote_words else None,
        "verbatim": verbatim_ok / verbatim_n if verbatim_n else 1.0,
        "false_abstain": abstained / n,
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p95_ms": float(np.percentile(latencies, 95)),
    }
    if out_of_corpus:
        found = 0
        for q in track(
            out_of_corpus, description="out of corpus", disable=not progress, console=console
        ):
            found += engine.ask(q.question, k=k).found
        metrics["out_of_corpus_questions"] = len(out_of_corpus)
        metrics["out_of_corpus_abstention"] = 1 - found / len(out_of_corpus)
    return metrics


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
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            help="Index directory (default: $QA_INDEX_DIR, else ./qa-index)",
            show_default=False,
        ),
    ] = None,
    out_of_corpus: Annotated[
        Path | None,
        typer.Option(
            "--out-of-corpus",
            help="Questions about articles NOT in the index: they should get found=false.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Ask only this many (an even spread).")] = None,
    k: Annotated[int, typer.Option("-k", help="Answers per question.")] = 3,
    reader: Annotated[
        str | None, typer.Option(help="trained or heuristic [default: $QA_READER]")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the metrics as JSON here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Score retrieval and answers on questions with gold answers (SQuAD-style)."""
    from qa.engine import Engine

    settings = Settings(**{k_: v for k_, v in (("index_dir", index), ("reader", reader)) if v})
    engine = Engine(settings).warm_up()
    metrics = evaluate(
        engine,
        Question.read(questions, limit),
        Question.read(out_of_corpus, limit) if out_of_corpus else None,
        k=k,
        progress=not as_json,
    )
    metrics["reader"] = type(engine.reader).__name__
    if output:
        output.write_text(json.dumps(metrics, indent=2))
    if as_json:
        print(json.dumps(metrics, indent=2))
        return
    table = Table(title=f"qa-eval {questions.name} ({metrics['reader']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)
