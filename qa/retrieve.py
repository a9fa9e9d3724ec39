"""Hybrid retrieval: the store's dense search and BM25, fused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from core.text.words import content_words
from indexer.embed import Embedder
from indexer.stores.base import Store

# BM25 runs on these while the asking thread embeds the question and searches FAISS, which
# release the GIL: a question costs the longer of the two, not their sum (this matters most
# when FTS5 answers, while the BM25 index is being rebuilt).
_BM25_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bm25")


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and its rank in each retriever (or None)."""

    rowid: int
    article_id: str
    start: int
    end: int
    text: str
    score: float
    dense_score: float | None
    dense_rank: int | None
    sparse_rank: int | None
    coverage: float = 0.0  # set by the reranker: question IDF share in one sentence pair
    # Set by the reranker: [start, end) in ``text`` of that sentence pair (None: no sentence).
    focus: tuple[int, int] | None = None


class HybridRetriever:
    """Dense + BM25 retrieval, fused.

    ``fusion="convex"`` (default) scores each candidate ``alpha * cosine + (1 - alpha) *
    bm25 / max_bm25``; ``"rrf"`` is weighted reciprocal rank fusion. Convex fusion keeps how
    *much* better a passage scores, which ranks ties between the two lists better (tuned on
    the dev split: see docs/benchmarks.md).

    Args:
        store: the index.
        embedder: embeds the question (same model as the passages).
        candidates: how many passages each retriever returns before fusion.
        alpha: the dense share of the fused score (0 = BM25 only, 1 = dense only).
        fusion: "convex" or "rrf".
        rrf_k: the RRF constant (larger flattens the rank curve).
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        candidates: int = 30,
        alpha: float = 0.7,
        fusion: str = "convex",
        rrf_k: int = 60,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.alpha = alpha
        self.fusion = fusion
        self.rrf_k = rrf_k

    def _fuse(
        self, dense: list[tuple[int, float]], sparse: list[tuple[int, float]]
    ) -> dict[int, float]:
        fused: dict[int, float] = {}
        if self.fusion == "rrf":
            for weight, ranking in ((self.alpha, dense), (1 - self.alpha, sparse)):
                for rank, (rowid, _) in enumerate(ranking):
                    fused[rowid] = fused.get(rowid, 0.0) + weight / (self.rrf_k + rank + 1)
            return fused
        floor = min((score for _, score in dense), default=0.0)
        top = max((score for _, score in sparse), default=0.0)
        dense_scores, sparse_scores = dict(dense), dict(sparse)
        for rowid in dense_scores.keys() | sparse_scores.keys():
            # A passage missing from the dense list scores at most the list's lowest cosine.
            cosine = dense_scores.get(rowid, floor)
            bm25 = sparse_scores.get(rowid, 0.0) / top if top > 0 else 0.0
            fused[rowid] = self.alpha * cosine + (1 - self.alpha) * bm25
        return fused

    def search_bm25(
        self, question: str, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(rowid, BM25 score) of the best ``candidates`` passages, best first."""
        return self.store.search_bm25(content_words(question), self.candidates, within)

    def retrieve(self, question: str, n: int = 10, within: np.ndarray | None = None) -> list[Hit]:
        """The ``n`` best passages for ``question``, best first; only passages whose rowid is
        in ``within`` when given (both retrievers search inside it, so ``n`` still come)."""
        sparse_job = _BM25_THREADS.submit(self.search_bm25, question, within)
        dense = self.store.search_dense(
            self.embedder.encode_query(question), self.candidates, within
        )
        sparse = sparse_job.result()
        fused = self._fuse(dense, sparse)
        best = sorted(fused, key=fused.__getitem__, reverse=True)[:n]
        rows = self.store.passages(best)
        dense_rank = {rowid: r for r, (rowid, _) in enumerate(dense)}
        dense_score = dict(dense)
        sparse_rank = {rowid: r for r, (rowid, _) in enumerate(sparse)}
        return [
            Hit(
                rowid=rowid,
                article_id=rows[rowid].article_id,
                start=rows[rowid].start,
                end=rows[rowid].end,
                text=rows[rowid].text,
                score=fused[rowid],
                dense_score=dense_score.get(rowid),
                dense_rank=dense_rank.get(rowid),
                sparse_rank=sparse_rank.get(rowid),
            )
            for rowid in best
            if rowid in rows
        ]
