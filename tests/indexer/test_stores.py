"""What both stores must do alike, through the store interface (PostgreSQL on a real server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from core.text.words import content_words
from core.types import Article, Passage
from indexer.load import load_path
from indexer.stores import make_store
from indexer.stores import postgres as postgres_store
from indexer.stores.base import IndexMismatchError, Store
from tests.conftest import DEV_ARTICLES, DEV_QUESTIONS, STORES, store_settings

DIM = 8


def _vector(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i % DIM] = 1.0
    return v


def _article(n: int, published: str | None = None) -> tuple[Article, list[Passage], np.ndarray]:
    text = f"Article {n} tells of the lighthouse keeper number {n}. The keeper counted gulls."
    article = Article(id=f"a{n}", title=f"Title {n}", url=f"https://x.org/{n}", text=text)
    article = article.model_copy(update={"published": published})
    cut = text.index(" The keeper")
    passages = [
        Passage(article_id=article.id, start=0, end=cut, text=text[:cut]),
        Passage(article_id=article.id, start=cut + 1, end=len(text), text=text[cut + 1 :]),
    ]
    return article, passages, np.vstack([_vector(2 * n), _vector(2 * n + 1)])


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = request.getfixturevalue("database_url") if request.param == "postgresql" else None
    store = make_store(store_settings(request.param, tmp_path / "index", url), "test-model", DIM)
    yield store
    store.close()


def test_writes_reads_and_searches(store: Store) -> None:
    with store.writing():
        store.apply([_article(1, "2024-05-01"), _article(2)])
    assert store.counts() == (2, 4)
    assert set(store.article_hashes()) == {"a1", "a2"}
    assert store.articles_by_url(["https://x.org/2"]) == {"https://x.org/2": "a2"}
    (key, score), *_ = store.search_dense(_vector(5), 2)
    passage = store.passages([key])[key]
    assert (passage.article_id, passage.text) == ("a2", "The keeper counted gulls.")
    assert score == pytest.approx(1.0)
    assert store.search_bm25(["lighthouse"], 5)
    assert store.document_frequency("gulls") == (2, 4)
    dated = store.rowids_published("2024-01-01", None)
    assert {store.passages(dated.tolist())[int(k)].article_id for k in dated} == {"a1"}
    assert [k for k, _ in store.search_dense(_vector(5), 4, dated)] != [key]
    total, page = store.list_articles(query="title 2")
    assert (total, [a.id for a in page], page[0].passages) == (1, ["a2"], 2)
    assert store.get_article("a1").published == "2024-05-01"  # type: ignore[union-attr]
    assert store.stats()["passages"] == 4


def test_replacing_and_deleting_keeps_counts_and_generation_moves(store: Store) -> None:
    with store.writing():
        store.apply([_article(1), _article(2)])
    generation = store.generation
    article, passages, vectors = _article(1)
    changed = article.model_copy(update={"text": article.text[: passages[0].end]})
    with store.writing():
        store.apply([(changed, passages[:1], vectors[:1])], deletes=["a2"])
    assert store.generation != generation
    assert store.counts() == (1, 1)
    assert store.get_article("a2") is None
    assert store.existing_vectors([passages[0].id])[passages[0].id] == pytest.approx(vectors[0])


def test_claims_hold_once_across_replicas(database_url: str, tmp_path: Path) -> None:
    settings = store_settings("postgresql", tmp_path, database_url)
    store, replica = (make_store(settings, "test-model", DIM) for _ in range(2))
    try:
        assert store.claim_once(["slack event Ev1", "slack msg C1 1.0"])
        assert not replica.claim_once(["slack event Ev1"])
        assert not replica.claim_once(["slack msg C1 1.0", "slack event Ev2"])
        assert store.claim_once(["slack event Ev3"])
    finally:
        store.close()
        replica.close()


@pytest.mark.parametrize("kind", STORES)
def test_another_model_is_refused(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("database_url") if kind == "postgresql" else None
    settings = store_settings(kind, tmp_path / "index", url)
    make_store(settings, "test-model", DIM).close()
    with pytest.raises(IndexMismatchError, match="model"):
        make_store(settings, "other-model", DIM)


def _dev_passages() -> list[tuple[Article, list[Passage], np.ndarray]]:
    """The dev articles, a passage per paragraph, with stand-in vectors."""
    upserts = []
    for n, article in enumerate(load_path(DEV_ARTICLES)):
        passages, start = [], 0
        for paragraph in article.text.split("\n"):
            if paragraph.strip():
                end = start + len(paragraph)
                passages.append(
                    Passage(article_id=article.id, start=start, end=end, text=paragraph)
                )
            start += len(paragraph) + 1
        upserts.append((article, passages, np.vstack([_vector(n)] * len(passages))))
    return upserts


def assert_postings_consistent(url: str) -> None:
    """PostgreSQL's BM25 postings match its passages: every passage with terms has them,
    none is left of a passage that is gone, and each term's document frequency is its count."""
    with psycopg.connect(url) as db:
        assert db.execute(
            "SELECT count(*) FROM passages p WHERE term_count > 0 AND NOT EXISTS"
            " (SELECT 1 FROM passage_terms t WHERE t.key = p.key)"
        ).fetchone() == (0,)
        assert db.execute(
            "SELECT count(*) FROM passage_terms t WHERE NOT EXISTS"
            " (SELECT 1 FROM passages p WHERE p.key = t.key)"
        ).fetchone() == (0,)
        assert db.execute(
            "SELECT count(*) FROM passages p WHERE term_count !="
            " (SELECT coalesce(sum(tf), 0) FROM passage_terms t WHERE t.key = p.key)"
        ).fetchone() == (0,)
        counted = dict(db.execute("SELECT term, count(*) FROM passage_terms GROUP BY term"))
        recorded = dict(db.execute("SELECT term, df FROM term_stats WHERE df != 0"))
        assert recorded == counted
        # every term's packed arrays that a query would read are its postings
        packed = db.execute(
            "SELECT p.term, p.keys FROM term_postings p JOIN term_stats s"
            " ON s.term = p.term AND s.version = p.version"
        ).fetchall()
        postings = dict(
            db.execute("SELECT term, array_agg(key ORDER BY key) FROM passage_terms GROUP BY term")
        )
        for term, keys in packed:
            assert sorted(np.frombuffer(keys, "<i8").tolist()) == postings.get(term, []), term
        totals = db.execute(
            "SELECT (SELECT value::bigint FROM qa_meta WHERE key = 'bm25_passages'),"
            " (SELECT value::bigint FROM qa_meta WHERE key = 'bm25_terms')"
        ).fetchone()
        assert (
            totals
            == db.execute("SELECT count(*), coalesce(sum(term_count), 0) FROM passages").fetchone()
        )


def test_postgresql_ranks_by_the_same_bm25_as_the_embedded_store(
    database_url: str, tmp_path: Path
) -> None:
    upserts = _dev_passages()
    stores = {
        kind: make_store(store_settings(kind, tmp_path / "index", database_url), "test-model", DIM)
        for kind in STORES
    }
    try:
        for store in stores.values():
            with store.writing():
                store.apply(upserts)
            store.update_lexical()
        assert_postings_consistent(database_url)
        with DEV_QUESTIONS.open(encoding="utf-8") as lines:
            questions = [
                json.loads(line)["question"] for line, _ in zip(lines, range(60), strict=False)
            ]
        for question in questions:
            ranked = {}
            for kind, store in stores.items():
                found = store.search_bm25(content_words(question), 10)
                texts = store.passages([k for k, _ in found])
                ranked[kind] = [(texts[k].article_id, texts[k].start, s) for k, s in found]
            embedded, postgresql = ranked["embedded"], ranked["postgresql"]
            assert [s for *_, s in postgresql] == pytest.approx([s for *_, s in embedded], rel=1e-4)
            # the same passages, but for ties at the cut
            same = {(a, st) for a, st, _ in postgresql} & {(a, st) for a, st, _ in embedded}
            assert len(same) >= len(embedded) - 2, question
        # Asked again, the same from the stored arrays as from the postings they were built from.
        postgres = stores["postgresql"]
        with psycopg.connect(database_url, autocommit=True) as db:
            assert db.execute("SELECT count(*) > 100 FROM term_postings").fetchone() == (True,)
            for question in questions[:20]:
                stored = postgres.search_bm25(content_words(question), 10)
                db.execute("DELETE FROM term_postings")
                built = postgres.search_bm25(content_words(question), 10)
                assert [k for k, _ in built] == [k for k, _ in stored]
                assert [s for _, s in built] == pytest.approx([s for _, s in stored])
        word = content_words(questions[0])[0]
        assert stores["postgresql"].document_frequency(word) == stores[
            "embedded"
        ].document_frequency(word)
    finally:
        for store in stores.values():
            store.close()


def test_postgresql_postings_follow_replacements_and_deletes(
    database_url: str, tmp_path: Path
) -> None:
    store = make_store(store_settings("postgresql", tmp_path, database_url), "test-model", DIM)
    try:
        with store.writing():
            store.apply([_article(1), _article(2), _article(3)])
        article, passages, vectors = _article(1)
        changed = article.model_copy(update={"text": article.text[: passages[0].end]})
        with store.writing():
            store.apply([(changed, passages[:1], vectors[:1])], deletes=["a2"])
        assert_postings_consistent(database_url)
        assert store.document_frequency("gulls") == (1, 3)  # a3's second passage alone
        found = store.passages([k for k, _ in store.search_bm25(["keeper"], 10)])
        assert sorted(p.article_id for p in found.values()) == ["a1", "a3", "a3"]
        # arrays built before a write are not read after it, here or on another replica
        replica = make_store(
            store_settings("postgresql", tmp_path, database_url), "test-model", DIM
        )
        try:
            assert len(replica.search_bm25(["keeper"], 10)) == 3
            with store.writing():
                store.apply([], deletes=["a3"])
            assert len(replica.search_bm25(["keeper"], 10)) == 1  # a1's
            with store.writing():
                store.apply([_article(2)])
            assert_postings_consistent(database_url)
            found = replica.passages([k for k, _ in replica.search_bm25(["gulls", "keeper"], 10)])
            assert sorted(p.article_id for p in found.values()) == ["a1", "a2", "a2"]
        finally:
            replica.close()
    finally:
        store.close()


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_older_postgresql_database_is_migrated_to_the_same_bm25(
    database_url: str, tmp_path: Path, version: int
) -> None:
    settings = store_settings("postgresql", tmp_path, database_url)
    store = make_store(settings, "test-model", DIM)
    with store.writing():
        store.apply(_dev_passages()[:3])
    words = content_words("Which NFL team represented the AFC at Super Bowl 50?")
    before = store.search_bm25(words, 10)
    store.close()
    with psycopg.connect(database_url, autocommit=True) as db:  # back to an older schema
        # version 3: no packed arrays
        db.execute("DROP TABLE term_postings")
        db.execute("ALTER TABLE term_stats DROP COLUMN version")
        if version == 1:  # ts_rank over a tsvector column
            db.execute("DROP TABLE passage_terms, term_stats")
            db.execute("ALTER TABLE passages DROP COLUMN term_count")
            db.execute(
                "ALTER TABLE passages ADD COLUMN tsv tsvector"
                " GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
            )
        if version <= 2:  # postings, but BM25's totals counted by each replica
            db.execute("DELETE FROM qa_meta WHERE key IN ('bm25_passages', 'bm25_terms')")
        db.execute("UPDATE qa_meta SET value = %s WHERE key = 'schema_version'", (str(version),))
    store = make_store(settings, "test-model", DIM)
    try:
        assert store.stats()["schema_version"] == postgres_store.SCHEMA_VERSION
        after = store.search_bm25(words, 10)
        assert [k for k, _ in after] == [k for k, _ in before]
        assert [s for _, s in after] == pytest.approx([s for _, s in before])
        assert before[0][1] > 1.0  # real BM25 scores, not the floor of common words
        assert_postings_consistent(database_url)
    finally:
        store.close()
