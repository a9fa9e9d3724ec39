"""The same engine tests on both stores: the embedded index and PostgreSQL (a real server,
see the ``postgres_server`` fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.load import load_path
from indexer.stores.base import Store
from qa.engine import Engine
from qa.types import Article
from tests.conftest import (
    DEV_ARTICLES,
    DEV_QUESTIONS,
    REPO,
    STORES,
    new_database,
    store_settings,
)

QUESTION_309 = "How many people associated with Islamic State has Pakistan arrested?"


@pytest.fixture(scope="module", params=STORES)
def store_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """An engine with the configured reader over the demo articles, on each store."""
    database_url = None
    if request.param == "postgresql":
        database_url = new_database(request.getfixturevalue("postgres_server"))
    settings = store_settings(request.param, tmp_path_factory.mktemp("index"), database_url)
    engine = Engine(settings)
    report = engine.add(load_path(REPO / "qa" / "demo_articles"))
    assert not report.errors
    engine.warm_up()
    yield engine
    engine.store.close()


def test_both_stores_implement_the_protocol(store_engine: Engine) -> None:
    assert isinstance(store_engine.store, Store)
    stats = store_engine.store.stats()
    assert stats["articles"] == 13 and stats["passages"] == stats["vectors"]


def test_export_gives_every_article_with_its_passages_and_stored_vectors(
    store_engine: Engine,
) -> None:
    store = store_engine.store
    batches = list(store.export(batch=5))
    assert [len(b) for b in batches] == [5, 5, 3]
    exported = [upsert for batch in batches for upsert in batch]
    assert [a.id for a, _, _ in exported] == sorted(store.article_hashes())
    for article, passages, vectors in exported:
        assert [p.id for p in passages] == [p.id for p in store_engine.indexer.split(article)]
        assert all(article.text[p.start : p.end] == p.text for p in passages)
        stored = store.existing_vectors([p.id for p in passages])
        assert np.array_equal(vectors, np.vstack([stored[p.id] for p in passages]))


def test_the_seed_question_is_answered_verbatim(store_engine: Engine) -> None:
    result = store_engine.ask(QUESTION_309)
    assert result.found
    best = result.answers[0]
    assert "309" in best.text
    article = store_engine.get_article(best.article.id)
    assert article is not None
    assert article.text[best.start : best.end] == best.text
    assert article.text[best.quote_start : best.quote_end] == best.quote


def test_dev_answers_are_verbatim(store_engine: Engine) -> None:
    texts = {a["id"]: a["text"] for a in map(json.loads, DEV_ARTICLES.open(encoding="utf-8"))}
    rows = [json.loads(line) for line in DEV_QUESTIONS.open(encoding="utf-8")]
    questions = rows[:: len(rows) // 40][:40]
    found = 0
    for q in questions:
        result = store_engine.ask(q["question"], k=3)
        for a in result.answers:
            article = store_engine.get_article(a.article.id)
            assert article is not None
            text = article.title if a.field == "title" else texts.get(a.article.id, article.text)
            assert text[a.start : a.end] == a.text
            assert text[a.quote_start : a.quote_end] == a.quote
        found += result.found
    assert found >= 32  # most dev questions have an answer in the index


def test_since_and_until_restrict_both_searches(store_engine: Engine) -> None:
    everything = store_engine.ask(QUESTION_309)
    assert everything.found
    # No demo article is dated in 1900: nothing is searched, so nothing is found.
    assert not store_engine.ask(QUESTION_309, since="1900-01-01", until="1900-12-31").found


@pytest.mark.parametrize("store", STORES)
def test_incremental_add_update_and_delete(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("database_url") if store == "postgresql" else None
    engine = Engine(store_settings(store, tmp_path / "index", url, reader="heuristic"))
    try:
        engine.add(load_path(REPO / "qa" / "demo_articles" / "msn-pakistan-islamic-state.txt"))
        before = engine.counts()
        ferry = Article(
            id="ferry",
            title="Ferry timetable",
            text="The island ferry now leaves at 7:40 every morning. It carries 90 cars.",
        )
        report = engine.add([ferry])
        assert report.added == ["ferry"]
        assert engine.counts() == (before[0] + 1, before[1] + 1)
        best = engine.ask("When does the island ferry leave?").answers[0]
        assert best.article.id == "ferry" and "7:40" in best.text
        assert ferry.text[best.start : best.end] == best.text

        changed = ferry.model_copy(update={"text": "The island ferry now leaves at 8:15."})
        assert engine.add([changed]).updated == ["ferry"]
        assert engine.add([changed]).unchanged == ["ferry"]
        best = engine.ask("When does the island ferry leave?").answers[0]
        assert "8:15" in best.text
        assert engine.counts() == (before[0] + 1, before[1] + 1)

        assert engine.remove(["ferry", "nope"]) == (["ferry"], ["nope"])
        assert engine.counts() == before
        assert engine.get_article("ferry") is None
        result = engine.ask("When does the island ferry leave?")
        assert all(a.article.id != "ferry" for a in result.answers)
    finally:
        engine.store.close()
