"""SQuAD EM/F1 of a reader given the gold paragraph, on the dev questions.

Official SQuAD v1.1 normalisation: lower-case, strip punctuation, drop the articles
a/an/the, fold whitespace; the maximum over the gold answers; averaged, in percent.

    python -m qa.train.evaluate --model qa/models/reader --limit 500
    qa-train eval --model qa/models/reader --limit 500
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from qa.evaluate import exact_match, f1_score


def metric_max(fn: Any, prediction: str, ground_truths: list[str]) -> float:
    return max(fn(prediction, gt) for gt in ground_truths)


def load_dev(dev_dir: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """``(articles by id, questions in file order)`` from the two jsonl files."""
    with open(dev_dir / "articles.jsonl", encoding="utf-8") as f:
        articles = {a["id"]: a for a in map(json.loads, f)}
    with open(dev_dir / "questions.jsonl", encoding="utf-8") as f:
        questions = [json.loads(line) for line in f]
    return articles, questions


def gold_paragraph(articles: dict[str, dict[str, Any]], q: dict[str, Any]) -> tuple[str, int]:
    """The question's gold paragraph text and its start offset inside the article text."""
    art = articles[q["article_id"]]
    start, end = art["paragraph_spans"][q["paragraph_index"]]
    return art["text"][start:end], start


def evaluate_reader(
    model: Path | Any,
    dev_dir: Path,
    limit: int | None = 500,
    threads: int | None = 2,
    precision: str = "fp32",
) -> dict[str, Any]:
    """EM/F1 (percent) of the best span, reader given the gold paragraph.

    ``model`` is a model folder (loaded with :class:`qa.read.trained.TrainedReader`) or any
    object with a ``read(question, texts, top_n)`` method.
    """
    if hasattr(model, "read"):
        reader = model
    else:
        from qa.read.trained import TrainedReader

        reader = TrainedReader(Path(model), threads=threads, precision=precision)
    articles, questions = load_dev(Path(dev_dir))
    if limit:
        questions = questions[:limit]
    em = f1 = 0.0
    verbatim_failures = 0
    t0 = time.perf_counter()
    for q in questions:
        para, offset = gold_paragraph(articles, q)
        spans = reader.read(q["question"], [para], top_n=1)
        pred = ""
        if spans:
            s = spans[0]
            pred = para[s.start : s.end]
            art_text = articles[q["article_id"]]["text"]
            if art_text[offset + s.start : offset + s.end] != pred or not pred:
                verbatim_failures += 1
        em += metric_max(exact_match, pred, q["answers"])
        f1 += metric_max(f1_score, pred, q["answers"])
    secs = time.perf_counter() - t0
    n = len(questions)
    return {
        "n": n,
        "em": 100 * em / max(1, n),
        "f1": 100 * f1 / max(1, n),
        "ms_per_question": 1000 * secs / max(1, n),
        "verbatim_failures": verbatim_failures,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("qa/models/reader"))
    ap.add_argument("--dev-dir", type=Path, required=True, help="articles.jsonl + questions.jsonl")
    ap.add_argument("--limit", type=int, default=500, help="first N questions (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=("fp32", "int8"), default="fp32")
    args = ap.parse_args(argv)
    res = evaluate_reader(
        args.model,
        args.dev_dir,
        limit=args.limit or None,
        threads=args.threads,
        precision=args.precision,
    )
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
