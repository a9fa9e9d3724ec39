"""Retrieval only, in-process: our hybrid retriever over the dev corpus, for the side-by-side
with txtai and Haystack (:mod:`bench.peers`, run in its own venv right after this one).

    python -m bench.retrieval [--threads 1]

Indexes the 12 dev articles with the engine (the product's settings), then for all 1,884 dev
questions, one after the other: ``engine.retriever.retrieve(question, 5)`` (query embedding +
FAISS + FTS5 BM25 + fusion + passage rows), and the same followed by the engine's lexical
reranker (what ``Engine.ask`` does before reading), timed, for the ONNX query encoder in fp32
and int8 (``QA_QUERY_PRECISION``), and for the torch encoder;
recall@5 = a retrieved passage's ``[start, end)`` covers a gold answer span. Run with one
thread (ONNX Runtime, FAISS, torch), as the peers are; BM25 runs on the retriever's helper
thread meanwhile, as in the product (at 307 passages it takes ~0.3 ms). Also times the query
embedding alone (ONNX backend, and bare ``SentenceTransformer.encode``) in the same run.
Writes bench/results/retrieval.json and bench/results/dev-passages.jsonl (our passages, so the
peers can also be run on exactly them).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import (
    DEV_ARTICLES,
    RESULTS,
    covers_answer,
    dev_questions,
    header,
    percentiles,
    table,
    write,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--questions", type=int, default=None, help="default: all 1,884")
    args = parser.parse_args()

    import faiss

    from indexer.embed import Embedder
    from indexer.load import load_path
    from qa.engine import Engine
    from qa.settings import Settings

    faiss.omp_set_num_threads(args.threads)
    questions = dev_questions(args.questions)
    print(header(f"retrieval only, in-process, sequential, {args.threads} thread(s)"), flush=True)
    rows = []
    bare_p50 = None
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("onnx", "torch"):
            settings = Settings(index_dir=Path(tmp) / backend, reader="heuristic")
            engine = Engine(settings.model_copy(update={"embed_backend": backend}))
            # The same engine, with its query encoder on ``--threads`` threads.
            embedder = Embedder(threads=args.threads, backend=backend).load()  # type: ignore[arg-type]
            engine.embedder = engine.indexer.embedder = engine.retriever.embedder = embedder
            started = time.perf_counter()
            report = engine.add(load_path(DEV_ARTICLES))
            index_s = time.perf_counter() - started

            def fused(q: str, engine: Engine = engine) -> list:
                return engine.retriever.retrieve(q, 5)

            def reranked(q: str, engine: Engine = engine) -> list:
                n = max(5, engine.settings.rerank_candidates)
                return engine.reranker.rerank(q, engine.retriever.retrieve(q, n))[:5]

            variants = [("fp32", embedder)]
            if backend == "onnx":
                int8 = Embedder(threads=args.threads, query_precision="int8").load()
                variants = [("fp32", embedder), ("int8", int8)]
            for precision, encoder in variants:
                engine.retriever.embedder = encoder
                for label, retrieve in (("hybrid", fused), ("hybrid + lexical rerank", reranked)):
                    for q in questions[:10]:
                        retrieve(q["question"])
                    took, hit = [], 0
                    for q in questions:
                        t = time.perf_counter()
                        hits = retrieve(q["question"])
                        took.append((time.perf_counter() - t) * 1000)
                        hit += any(covers_answer(q, h.article_id, h.start, h.end) for h in hits)
                    rows.append(
                        {
                            "system": f"article-qa {label}, {backend} {precision} query encoder",
                            "passages": report.passages_total,
                            "index_s": round(index_s, 1),
                            **{k: round(v, 2) for k, v in percentiles(took).items()},
                            "recall@5": round(hit / len(questions), 3),
                        }
                    )
                    print(f"  {rows[-1]}", flush=True)
                embed_ms = []
                for q in questions[:300]:
                    t = time.perf_counter()
                    encoder.encode_query(q["question"])
                    embed_ms.append((time.perf_counter() - t) * 1000)
                rows[-1]["query_embed_p50_ms"] = rows[-2]["query_embed_p50_ms"] = round(
                    percentiles(embed_ms)["p50_ms"], 2
                )
            engine.retriever.embedder = embedder
            if backend == "onnx":
                _dump_passages(engine.store)
            else:
                bare = []
                for q in questions[:300]:
                    t = time.perf_counter()
                    embedder._model.encode([q["question"]], normalize_embeddings=True)
                    bare.append((time.perf_counter() - t) * 1000)
                bare_p50 = round(percentiles(bare)["p50_ms"], 2)
            engine.store.close()
    print()
    print(table(rows))
    print(f"bare SentenceTransformer.encode(question) alone: p50 {bare_p50} ms")
    payload = {"threads": args.threads, "questions": len(questions), "rows": rows}
    name = "retrieval" if args.threads == 1 else f"retrieval-t{args.threads}"
    print(f"written to {write(name, {**payload, 'bare_st_query_p50_ms': bare_p50})}")


def _dump_passages(store) -> None:  # noqa: ANN001
    RESULTS.mkdir(exist_ok=True)
    rows = store.records.db.execute(
        "SELECT article_id, start, end, text FROM passages ORDER BY rowid"
    )
    with (RESULTS / "dev-passages.jsonl").open("w") as f:
        for article_id, start, end, text in rows:
            record = {"article_id": article_id, "start": start, "end": end, "text": text}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
