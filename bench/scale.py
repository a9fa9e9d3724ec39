"""Scale: FAISS type by size, recall@10 of the approximate index against exact search, search
latency, and the resident memory of an engine serving the index (SQLite text stays on disk).

    python -m bench.scale [--sizes 100000,1000000] [--queries 500] [--asks 100]

For each size, the benchmark index is built once by :mod:`bench.corpus` (see there what is
real and what is derived: at 1M, most vectors are derived from real sentence vectors). Then:

- a fresh process opens an ``Engine`` on it (ONNX embedder, heuristic reader, so the reading
  model does not blur the index's share), asks ``--asks`` dev questions and reports open time,
  ask latency and its resident memory (VmRSS / VmHWM);
- this process embeds ``--queries`` dev questions, searches the store's FAISS index at several
  ``nprobe`` values and an exact ``IndexFlatIP`` over the same SQLite vectors, and reports
  recall@10 (share of the exact top 10 found) and the single-query search latency.

Writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import REPO, dev_questions, header, hwm_mb, percentiles, rss_mb, table, write


def probe(index: Path, asks: int) -> dict:
    """Open an engine on ``index`` and answer ``asks`` questions (run in a fresh process)."""
    started = time.perf_counter()
    from qa.engine import Engine
    from qa.settings import Settings

    engine = Engine(Settings(index_dir=index, reader="heuristic", embed_backend="onnx"))
    engine.warm_up()
    open_s = time.perf_counter() - started
    rss_open = rss_mb()
    questions = [q["question"] for q in dev_questions(asks)]
    took = []
    for q in questions:
        t = time.perf_counter()
        engine.ask(q)
        took.append((time.perf_counter() - t) * 1000)
    return {
        "faiss": engine.store.faiss_kind(),
        "open_s": round(open_s, 2),
        "rss_after_open_mb": round(rss_open),
        "rss_mb": round(rss_mb()),
        "peak_rss_mb": round(hwm_mb()),
        **{f"ask_{k}": round(v, 1) for k, v in percentiles(took).items()},
        "torch_loaded": "torch" in sys.modules,
    }


def _exact_and_vectors(db_path: Path, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """All (rowids, vectors) from SQLite, the source of truth."""
    db = sqlite3.connect(db_path)
    count = db.execute("SELECT count(*) FROM passages").fetchone()[0]
    ids = np.zeros(count, dtype=np.int64)
    vectors = np.zeros((count, dim), dtype=np.float32)
    for i, (rowid, blob) in enumerate(db.execute("SELECT rowid, vector FROM passages")):
        ids[i] = rowid
        vectors[i] = np.frombuffer(blob, dtype=np.float32)
    db.close()
    return ids, vectors


def measure(index_dir: Path, queries: np.ndarray) -> list[dict]:
    """recall@10 and latency of the store's dense search against exact search."""
    import faiss

    from indexer.embed import MODEL_DIM, MODEL_NAME
    from indexer.stores.embedded import EmbeddedStore
    from indexer.stores.embedded.records import DB_NAME
    from indexer.stores.embedded.vectors import HNSW_EF_SEARCH, describe_faiss, is_hnsw, ivf_nprobe

    faiss.omp_set_num_threads(1)  # one query at a time, as a server answers
    ids, vectors = _exact_and_vectors(index_dir / DB_NAME, queries.shape[1])
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(queries.shape[1]))
    exact.add_with_ids(vectors, ids)
    del vectors
    _, truth = exact.search(queries, 10)

    def timed(search) -> tuple[list[list[int]], list[float]]:  # noqa: ANN001
        found, took = [], []
        for q in queries:
            t = time.perf_counter()
            found.append(search(q))
            took.append((time.perf_counter() - t) * 1000)
        return found, took

    def recall(found: list[list[int]]) -> float:
        return float(
            np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
        )

    rows = []
    _, took = timed(lambda q: exact.search(q[None, :], 10)[1][0].tolist())
    rows.append({"dense search": "exact IndexFlatIP", "nprobe": "", "recall@10": 1.0, **_ms(took)})
    store = EmbeddedStore(index_dir, MODEL_NAME, MODEL_DIM)
    index = store.vectors.index
    if isinstance(index, faiss.IndexIVF):
        default = ivf_nprobe(index.nlist)
        for nprobe in sorted({index.nlist // 32, index.nlist // 16, index.nlist // 8, default}):
            index.nprobe = max(1, nprobe)
            found, took = timed(lambda q: [i for i, _ in store.search_dense(q, 10)])
            label = f"store: {type(index).__name__} nlist={index.nlist} + exact re-rank"
            label += " (default)" if nprobe == default else ""
            rows.append(
                {"dense search": label, "nprobe": nprobe, "recall@10": recall(found), **_ms(took)}
            )
        index.nprobe = default
    elif is_hnsw(index):
        graph = faiss.downcast_index(index.index)
        for ef in (64, 128, HNSW_EF_SEARCH, 2 * HNSW_EF_SEARCH):
            graph.hnsw.efSearch = ef
            found, took = timed(lambda q: [i for i, _ in store.search_dense(q, 10)])
            label = f"store: {describe_faiss(index)} + exact re-score"
            label += " (default)" if ef == HNSW_EF_SEARCH else ""
            rows.append(
                {"dense search": label, "nprobe": "", "recall@10": recall(found), **_ms(took)}
            )
        graph.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        found, took = timed(lambda q: [i for i, _ in store.search_dense(q, 10)])
        inner = type(faiss.downcast_index(index.index)).__name__
        label = f"store: {type(index).__name__}({inner})"
        label += " + exact re-score" if inner != "IndexFlatIP" else ""
        rows.append({"dense search": label, "nprobe": "", "recall@10": recall(found), **_ms(took)})
    store.close()
    return rows


def _ms(took: list[float]) -> dict:
    return {f"search_{k}": round(v, 2) for k, v in percentiles(took).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--asks", type=int, default=100)
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe, args.asks)))
        return

    from bench.corpus import ensure
    from indexer.embed import Embedder

    print(header("scale: FAISS type by size, recall@10 vs exact, memory"), flush=True)
    embedder = Embedder(backend="onnx").load()
    queries = np.vstack([embedder.encode_query(q["question"]) for q in dev_questions(args.queries)])
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        index_dir = ensure(size)
        corpus = json.loads((index_dir / "corpus.json").read_text())
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.scale",
                "--probe",
                str(index_dir),
                "--asks",
                str(args.asks),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        served = json.loads(out.stdout.strip().splitlines()[-1])
        search = measure(index_dir, queries)
        db_mb = round((index_dir / "index.sqlite").stat().st_size / 2**20)
        faiss_mb = round((index_dir / "vectors.faiss").stat().st_size / 2**20)
        results.append({"size": size, "corpus": corpus, "served": served, "search": search})
        print(f"\n## {corpus['passages']} passages ({corpus['articles']} articles)")
        print(
            f"vectors: {corpus['dev_passages_real']} dev + "
            f"{corpus['synthetic_passages_embedded_for_real']} synthetic passages embedded by the "
            f"model; {corpus['synthetic_passages_with_derived_vectors']} derived "
            f"({corpus['derived_vector']}; cosine to the real vector "
            f"{corpus['cosine_derived_vs_real_mean']})"
        )
        print(f"on disk: SQLite {db_mb} MiB, FAISS {faiss_mb} MiB")
        print(table(search))
        print(
            f"engine (ONNX, heuristic reader, fresh process): open {served['open_s']} s, "
            f"ask p50 {served['ask_p50_ms']} ms / p95 {served['ask_p95_ms']} ms, "
            f"RSS {served['rss_mb']} MiB (peak {served['peak_rss_mb']} MiB), "
            f"FAISS {served['faiss']}, torch loaded: {served['torch_loaded']}",
            flush=True,
        )
    print("goals: recall@10 >= 0.99 for the approximate index; RSS <= 4096 MiB at 1M passages")
    print(f"written to {write('scale', {'queries': len(queries), 'results': results})}")


if __name__ == "__main__":
    main()
