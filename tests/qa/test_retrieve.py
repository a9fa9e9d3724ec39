from __future__ import annotations

from pathlib import Path

from qa.engine import Engine
from qa.settings import Settings
from qa.types import Article


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


def test_bm25_counts_every_question_word_and_document_frequency_follows_writes(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path)
    # "penguins" is in one of the two passages, "morning" in both: both count.
    hits = engine.retriever.search_bm25("penguins morning")
    assert [engine.store.passages([r])[r].article_id for r, _ in hits] == ["zoo", "farm"]
    assert engine.retriever.search_bm25("the of and") == []
    # Counts follow the index: a write invalidates the cache.
    assert engine.store.document_frequency("giraffe")[0] == 0
    engine.add([Article(id="z2", title="Giraffes", text="A giraffe eats leaves.")])
    assert engine.store.document_frequency("giraffe") == (1, 3)
