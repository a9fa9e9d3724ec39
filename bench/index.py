"""Indexing throughput: the pipeline against bare ``SentenceTransformer.encode``, same passages.

    python -m bench.index [--rounds 3] [--sweep]

Every round (in alternating order, so drift in the machine's load hits all alike) times:

- ``bare torch encode``: ``SentenceTransformer.encode(texts, normalize_embeddings=True)``
  (its default batch size, 32) on the very passages the pipeline makes from the dev articles;
- ``pipeline (torch)`` / ``pipeline (onnx)``: load the dev articles, clean, split, embed,
  write SQLite + FTS5 + FAISS into a fresh index (``Indexer.add``), with either backend;
- ``bare onnx encode``: the ONNX backend's ``Embedder.encode`` on the same texts.

Our embedders use the product's batch size (``Settings.embed_batch_size``; by default ONNX 1,
torch 8) unless ``--batch-size`` says otherwise. ``--sweep`` adds other ONNX batch sizes and
session layouts (one session per core, or one session using every core, as before session 9),
and bare torch at batch 8.

Models are loaded before timing. Reported: passages/s (median over rounds) and the median of
the per-round ratios to bare torch encode; the ONNX vectors' cosine to the torch ones.
Writes bench/results/index.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import DEV_ARTICLES, header, table, write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, help="ours (default: the product's)")
    parser.add_argument("--sweep", action="store_true", help="also ONNX batch sizes / threads")
    args = parser.parse_args()

    from indexer.embed import Embedder, TokenCounter
    from indexer.load import load_path
    from indexer.pipeline import Indexer
    from indexer.stores.embedded import EmbeddedStore
    from qa.settings import Settings

    settings = Settings()
    counter = TokenCounter()

    def make_indexer(store: EmbeddedStore | None, embedder: Embedder | None) -> Indexer:
        return Indexer(
            store,  # type: ignore[arg-type]
            embedder,  # type: ignore[arg-type]
            counter,
            max_tokens=settings.passage_max_tokens,
            overlap_sentences=settings.passage_overlap_sentences,
            chunk_passages=settings.index_chunk_passages,
        )

    batch_size = args.batch_size or settings.embed_batch_size
    torch_embedder = Embedder(batch_size=batch_size, backend="torch").load()
    onnx_embedder = Embedder(batch_size=batch_size, backend="onnx").load()
    model = torch_embedder._model  # the bare SentenceTransformer, loaded once

    def pipeline(embedder: Embedder) -> Callable[[], int]:
        def run() -> int:
            with tempfile.TemporaryDirectory() as tmp:
                store = EmbeddedStore(Path(tmp), embedder.name, embedder.dim)
                report = make_indexer(store, embedder).add(load_path(DEV_ARTICLES))
                store.close()
            return report.passages_total

        return run

    # The very passages the pipeline embeds (same splitter, the product's settings).
    texts = [p.text for a in load_path(DEV_ARTICLES) for p in make_indexer(None, None).split(a)]
    onnx_embedder.encode(texts[:4])  # passage sessions open on first use: not in the timing

    vectors: dict[str, np.ndarray] = {}

    def bare_torch() -> int:
        vectors["torch"] = model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        return len(texts)

    def bare_onnx() -> int:
        vectors["onnx"] = onnx_embedder.encode(texts)
        return len(texts)

    methods: dict[str, Callable[[], int]] = {
        "bare torch encode (SentenceTransformer)": bare_torch,
        "pipeline, torch backend": pipeline(torch_embedder),
        "bare onnx encode (Embedder)": bare_onnx,
        "pipeline, onnx backend (default)": pipeline(onnx_embedder),
    }
    if args.sweep:
        methods["bare torch encode, batch 8"] = lambda: len(
            model.encode(texts, batch_size=8, normalize_embeddings=True, show_progress_bar=False)
        )
        layouts = [(2, None, None), (4, None, None), (8, None, None), (1, 1, None)]
        layouts += [(bs, None, 1) for bs in (1, 8)]
        for bs, threads, workers in layouts:
            sweep = Embedder(batch_size=bs, threads=threads, workers=workers, backend="onnx")
            label = "a session per core"
            if threads == 1 or workers == 1:
                label = "one core" if threads == 1 else "one session on every core"
            sweep.encode(texts[:4])  # opens its sessions before timing
            methods[f"bare onnx encode, batch {bs}, {label}"] = lambda e=sweep: len(e.encode(texts))
    rates: dict[str, list[float]] = {name: [] for name in methods}
    print(header("indexing throughput"), flush=True)
    print(
        f"{len(texts)} passages (<= {settings.passage_max_tokens} tokens) from "
        f"{DEV_ARTICLES.name}; {args.rounds} rounds",
        flush=True,
    )
    for r in range(args.rounds):
        names = list(methods) if r % 2 == 0 else list(reversed(methods))
        for name in names:
            started = time.perf_counter()
            n = methods[name]()
            rates[name].append(n / (time.perf_counter() - started))
            print(f"  round {r + 1}: {name}: {rates[name][-1]:.1f} passages/s", flush=True)

    base = rates["bare torch encode (SentenceTransformer)"]

    def ratio(values: list[float], to: list[float]) -> float:
        return round(statistics.median(v / b for v, b in zip(values, to, strict=True)), 2)

    rows = [
        {
            "method": name,
            "passages/s": round(statistics.median(values), 1),
            "x bare torch": ratio(values, base),
            "per round": " ".join(f"{v / b:.2f}" for v, b in zip(values, base, strict=True)),
        }
        for name, values in rates.items()
    ]
    cosine = (vectors["onnx"] * vectors["torch"]).sum(axis=1)
    pipeline_onnx = rates["pipeline, onnx backend (default)"]
    bare_onnx_rates = rates["bare onnx encode (Embedder)"]
    summary = {
        "passages": len(texts),
        "rounds": args.rounds,
        "cosine_onnx_torch_mean": round(float(cosine.mean()), 6),
        "cosine_onnx_torch_min": round(float(cosine.min()), 6),
        "pipeline_torch_vs_bare_torch": rows[1]["x bare torch"],
        "pipeline_onnx_vs_bare_onnx": ratio(pipeline_onnx, bare_onnx_rates),
        "onnx_vs_bare_torch": rows[2]["x bare torch"],
    }
    print()
    print(table(rows))
    print(
        f"\nONNX vs torch vectors: mean cosine {summary['cosine_onnx_torch_mean']:.6f}, "
        f"min {summary['cosine_onnx_torch_min']:.6f}"
    )
    print(
        f"pipeline/bare, same backend: torch {summary['pipeline_torch_vs_bare_torch']:.2f}x "
        f"(goal >= 0.9), onnx {summary['pipeline_onnx_vs_bare_onnx']:.2f}x; "
        f"onnx encode / bare torch encode {summary['onnx_vs_bare_torch']:.2f}x (goal >= 1.5)"
    )
    print(f"written to {write('index', {'rows': rows, **summary, 'raw': rates})}")


if __name__ == "__main__":
    main()
