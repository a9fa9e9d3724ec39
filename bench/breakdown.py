"""Where an ask's time goes at 100k passages, in process, step by step.

    python -m bench.breakdown [--passages 100000] [--questions 200] [--precisions fp32,int8]

Opens the benchmark index (built once by :mod:`bench.corpus`) with the engine's default
settings, answers dev questions one after the other, and times each step of
``Engine.ask`` by wrapping the objects' methods: question embedding, FAISS search and BM25
(the last runs on the retriever's helper thread, beside the other two), retrieval as a whole,
reranking, each reader call, and the whole ask. Also counts how many passages the reader read.
One engine per trained-reader precision, in the same run. Writes bench/results/breakdown.json.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections import defaultdict
from collections.abc import Callable

from bench.common import dev_questions, header, percentiles, table, write

STEPS = ("embed question", "FAISS search", "BM25", "retrieve", "rerank", "read (per call)")


def _timed(obj: object, method: str, into: list[float]) -> None:
    """Replace ``obj.method`` by a wrapper that appends its duration (ms) to ``into``."""
    original: Callable = getattr(obj, method)

    @functools.wraps(original)
    def wrapper(*args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into.append((time.perf_counter() - started) * 1000)

    setattr(obj, method, wrapper)


def measure(index: str, precision: str, questions: list[str]) -> dict:
    from qa.engine import Engine
    from qa.settings import Settings

    engine = Engine(Settings(index_dir=index, reader_precision=precision)).warm_up()
    for question in questions[:5]:  # warm-up, not timed
        engine.ask(question)
    took: dict[str, list[float]] = defaultdict(list)
    _timed(engine.embedder, "encode_query", took["embed question"])
    _timed(engine.store, "search_dense", took["FAISS search"])
    _timed(engine.retriever, "search_bm25", took["BM25"])
    _timed(engine.retriever, "retrieve", took["retrieve"])
    _timed(engine.reranker, "rerank", took["rerank"])
    _timed(engine.reader, "read", took["read (per call)"])
    read_counts: list[int] = []
    read_candidates = engine.read_candidates

    def counting(*args: object, **kwargs: object) -> tuple:
        found = read_candidates(*args, **kwargs)  # type: ignore[arg-type]
        read_counts.append(len(found[1]))
        return found

    engine.read_candidates = counting  # type: ignore[method-assign]
    for question in questions:
        started = time.perf_counter()
        engine.ask(question)
        took["ask"].append((time.perf_counter() - started) * 1000)
    row: dict = {"reader": engine.reader.name}
    for step in (*STEPS, "ask"):
        p = percentiles(took[step])
        row[f"{step} p50"] = round(p["p50_ms"], 1)
        row[f"{step} p95"] = round(p["p95_ms"], 1)
    row["read more share"] = round(sum(c > 1 for c in read_counts) / len(read_counts), 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--precisions", default="fp32,int8")
    args = parser.parse_args()

    from bench.corpus import ensure

    index = ensure(args.passages)
    questions = [q["question"] for q in dev_questions(args.questions)]
    print(header(f"where an ask's time goes at {args.passages} passages (ms, in process)"))
    print(f"index {index}; {len(questions)} dev questions, sequential")
    rows = [measure(str(index), p, questions) for p in args.precisions.split(",")]
    # One line per step, one column per reader: easier to read than 15 columns.
    steps = [*STEPS, "ask"]
    lines = [
        {"step": f"{step} {stat}", **{r["reader"]: r[f"{step} {stat}"] for r in rows}}
        for step in steps
        for stat in ("p50", "p95")
    ]
    lines.append({"step": "read more share", **{r["reader"]: r["read more share"] for r in rows}})
    print()
    print(table(lines))
    print("BM25 runs on a helper thread while the question is embedded and FAISS searched.")
    print(f"written to {write('breakdown', {'questions': len(questions), 'rows': rows})}")


if __name__ == "__main__":
    main()
