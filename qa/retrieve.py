"""Hybrid retrieval: FAISS dense search and SQLite FTS5 BM25, fused by reciprocal rank."""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexer.embed import Embedder
from indexer.store import IndexStore

# Function words carry no evidence for BM25, and make FTS5 OR-queries match everything.
_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours out over own
same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom whose why
will with would you your yours
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"\w+", re.UNICODE)


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` minus stopwords, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in STOPWORDS and word not in seen:
            seen[word] = None
    return list(seen)


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression: the question's content words, quoted, OR-ed."""
    return " OR ".join(f'"{w}"' for w in content_words(text))


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


class HybridRetriever:
    """Dense + BM25 retrieval fused with weighted reciprocal rank fusion.

    Args:
        store: the index.
        embedder: embeds the question (same model as the passages).
        candidates: how many passages each retriever returns before fusion.
        rrf_k: the RRF constant (larger flattens the rank curve).
        dense_weight / sparse_weight: weights of the two rankings in the fusion.
    """

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        *,
        candidates: int = 30,
        rrf_k: int = 60,
        dense_weight: float = 1.0,
        sparse_weight: float = 1.0,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.sparse_weight = sparse_weight

    def retrieve(self, question: str, n: int = 10) -> list[Hit]:
        """The ``n`` best passages for ``question``, best first."""
        dense = self.store.search_dense(self.embedder.encode_query(question), self.candidates)
        sparse = self.store.search_bm25(fts_query(question), self.candidates)
        fused: dict[int, float] = {}
        for weight, ranking in ((self.dense_weight, dense), (self.sparse_weight, sparse)):
            for rank, (rowid, _) in enumerate(ranking):
                fused[rowid] = fused.get(rowid, 0.0) + weight / (self.rrf_k + rank + 1)
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
