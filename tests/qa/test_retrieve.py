from __future__ import annotations

from pathlib import Path

from qa.engine import Engine
from qa.retrieve import content_words, fts_query
from qa.settings import Settings
from qa.types import Article


def test_fts_query_quotes_content_words_only() -> None:
    assert content_words("What is the capital of Poland?") == ["capital", "poland"]
    assert fts_query(content_words('Who said "hello" OR NOT?')) == '"said" OR "hello"'
    assert fts_query(content_words("the of and")) == ""


def _engine(tmp_path: Path) -> Engine:
    engine = Engine(Settings(index_dir=tmp_path, reader="heuristic"))
    engine.add(
        [
            Article(
                id="zoo",
                title="Zoo",
                text="The zoo opened in 1901. Its keepers feed the penguins fish every morning. "
                "Penguins are birds.",
            ),
            Article(
                id="farm",
                title="Farm",
                text="The farm grows wheat. Morning work starts at five. Fish live in its pond.",
            ),
        ]
    )
    return engine


def test_hybrid_retrieval_ranks_the_answering_passage_first(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    for fusion in ("convex", "rrf"):
        engine.retriever.fusion = fusion
        hits = engine.retriever.retrieve("What do keepers feed the penguins?", 2)
        assert [h.article_id for h in hits] == ["zoo", "farm"]
        assert hits[0].text == engine.get_article("zoo").text[hits[0].start : hits[0].end]


def test_reranker_prefers_question_words_in_one_place(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    hits = engine.retriever.retrieve("When does morning fish feeding happen at the zoo?", 2)
    reranked = engine.reranker.rerank("When are the penguins fed fish in the morning?", hits)
    assert reranked[0].article_id == "zoo"
    assert all(a.score >= b.score for a, b in zip(reranked, reranked[1:], strict=False))
    assert engine.reranker.rerank("anything", []) == []


def test_bm25_leaves_out_words_most_passages_hold(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    retriever = engine.retriever
    # "penguins" is in one of the two passages, "morning" in both.
    retriever.max_postings = 1
    assert retriever.bm25_words("penguins morning") == ["penguins"]
    assert retriever.bm25_words("morning") == ["morning"]  # never an empty query
    assert retriever.bm25_words("morning fish") == ["morning", "fish"]  # all common: keep all
    retriever.max_postings = 0
    assert retriever.bm25_words("penguins morning") == ["penguins", "morning"]
    # Counts follow the index: a write invalidates the cache.
    assert engine.store.document_frequency("giraffe")[0] == 0
    engine.add([Article(id="z2", title="Giraffes", text="A giraffe eats leaves.")])
    assert engine.store.document_frequency("giraffe") == (1, 3)
