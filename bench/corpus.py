"""Build a large benchmark index (100k or 1M passages) from the dev articles' real sentences.

    python -m bench.corpus --passages 100000 [--real 2000] [--out bench/results/index-100k]

What goes in, and how honest each part is (also written to ``corpus.json`` in the index):

- the 12 dev articles, through the real pipeline (load, clean, split, embed with the model):
  their passages and vectors are real, so the dev questions have real answers to find;
- synthetic articles filling up to ``--passages``: each passage is 3–7 real dev sentences
  drawn at random (≤ 200 tokens), joined; each article is 2–8 such passages.
  Vectors: the first ``--real`` synthetic passages are embedded by the model (ONNX backend);
  every other one is **derived**: the token-weighted mean of its sentences' real model
  vectors, normalised. The cosine of derived to real vectors is measured on the real subset
  and reported. Embedding 100k passages for real takes hours on 2 shared cores, hence this.

Passages are written with ``EmbeddedStore.apply`` (SQLite + FTS5 + FAISS, the pipeline's write
step) in large chunks, so the FAISS type is whatever the store picks for the size; then the
BM25 index is built, as ``qa-index add`` does at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.common import DEV_ARTICLES, RESULTS, header


def build(out: Path, passages: int, real: int, seed: int = 0, chunk: int = 50_000) -> dict:
    """Build the index at ``out`` (must not exist) and return its description."""
    from core.text.sentences import split_sentences
    from indexer.embed import Embedder, TokenCounter
    from indexer.load import load_path
    from indexer.pipeline import Indexer
    from indexer.stores.embedded import EmbeddedStore
    from qa.types import Article, Passage

    started = time.perf_counter()
    embedder = Embedder(backend="onnx").load()
    counter = TokenCounter()
    store = EmbeddedStore(out, embedder.name, embedder.dim)
    dev = Indexer(store, embedder, counter).add(load_path(DEV_ARTICLES))

    sentences = sorted(
        {a.text[s.start : s.end] for a in load_path(DEV_ARTICLES) for s in split_sentences(a.text)}
    )
    tokens = np.array(counter(sentences), dtype=np.float32)
    keep = tokens <= 60  # long sentences would make passages overflow the 200-token budget
    sentences, tokens = [s for s, k in zip(sentences, keep, strict=True) if k], tokens[keep]
    sentence_vectors = embedder.encode(sentences)
    print(f"{len(sentences)} distinct dev sentences embedded", flush=True)

    rng = np.random.default_rng(seed)
    todo = passages - dev.passages_total
    real_vectors = None
    cosine_derived = None
    written = article_no = 0
    while written < todo:
        size = min(chunk, todo - written)
        picks = _draw(rng, tokens, size)
        texts = [" ".join(sentences[i] for i in pick) for pick in picks]
        derived = np.vstack(
            [(tokens[pick, None] * sentence_vectors[pick]).sum(axis=0) for pick in picks]
        )
        derived /= np.linalg.norm(derived, axis=1, keepdims=True)
        vectors = derived
        if written < real:
            n_real = min(real - written, size)
            real_vectors = embedder.encode(texts[:n_real])
            cosine_derived = float((real_vectors * derived[:n_real]).sum(axis=1).mean())
            vectors = np.vstack([real_vectors, derived[n_real:]])
        upserts = []
        lo = 0
        while lo < size:
            count = int(rng.integers(2, 9))
            parts = texts[lo : lo + count]
            article_id = f"synthetic-{article_no:07d}"
            text = "\n\n".join(parts)
            spans, at = [], 0
            for part in parts:
                spans.append(
                    Passage(article_id=article_id, start=at, end=at + len(part), text=part)
                )
                at += len(part) + 2
            article = Article(id=article_id, title=f"Synthetic article {article_no}", text=text)
            upserts.append((article, spans, vectors[lo : lo + count]))
            lo += count
            article_no += 1
        with store.writing():
            store.apply(upserts)
        written += size
        print(f"  {dev.passages_total + written} passages written", flush=True)
    bm25_started = time.perf_counter()
    store.update_lexical()
    bm25_s = time.perf_counter() - bm25_started
    articles, total = store.counts()
    kind = store.faiss_kind()
    store.close()
    description = {
        "passages": total,
        "articles": articles,
        "dev_articles_real": len(dev.added),
        "dev_passages_real": dev.passages_total,
        "synthetic_passages_embedded_for_real": min(real, todo),
        "synthetic_passages_with_derived_vectors": max(0, todo - real),
        "derived_vector": "token-weighted mean of its sentences' real vectors, normalised",
        "cosine_derived_vs_real_mean": round(cosine_derived, 4) if cosine_derived else None,
        "faiss": kind,
        "build_seconds": round(time.perf_counter() - started, 1),
        "bm25_build_seconds": round(bm25_s, 1),
    }
    (out / "corpus.json").write_text(json.dumps(description, indent=2))
    return description


def _draw(rng: np.random.Generator, tokens: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` random sentence picks of 3–7 sentences each, at most 200 tokens together."""
    picks = []
    while len(picks) < n:
        pick = rng.integers(0, len(tokens), size=int(rng.integers(3, 8)))
        while tokens[pick].sum() > 200:
            pick = pick[:-1]
        picks.append(pick)
    return picks


def ensure(passages: int, real: int = 2000) -> Path:
    """The benchmark index of ``passages`` passages in bench/results/, built if missing."""
    out = RESULTS / f"index-{passages // 1000}k"
    if not (out / "corpus.json").exists():
        if out.exists():
            raise SystemExit(f"{out} is a half-built corpus: delete it and run again")
        print(f"building {out} ...", flush=True)
        print(json.dumps(build(out, passages, real), indent=2), flush=True)
    else:  # built before the BM25 index existed, or by another version: bring it up to date
        from indexer.embed import MODEL_DIM, MODEL_NAME
        from indexer.stores.embedded import EmbeddedStore

        store = EmbeddedStore(out, MODEL_NAME, MODEL_DIM)
        if store.refit_due():  # built when another FAISS type fitted this size
            print(f"rebuilding the FAISS index of {out} ...", flush=True)
            with store.writing():
                store.refit_faiss()
            print(f"FAISS: {store.faiss_kind()}", flush=True)
        if store.lexical() is None:
            print(f"building the BM25 index of {out} ...", flush=True)
            store.update_lexical()
        store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=2000, help="synthetic passages embedded")
    args = parser.parse_args()
    print(header(f"benchmark corpus, {args.passages} passages"), flush=True)
    out = ensure(args.passages, args.real)
    print(f"{out}: {(out / 'corpus.json').read_text()}")


if __name__ == "__main__":
    main()
