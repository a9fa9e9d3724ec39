"""The schema migration that adds publish dates, and searches restricted to a date range,
over real indexes (real model, FAISS, SQLite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from core.text.words import content_words
from indexer.stores.embedded.records import DB_NAME, SCHEMA_VERSION
from qa.engine import Engine
from qa.settings import Settings
from qa.types import Article
from tests.indexer.test_store import assert_consistent


def _engine(directory: Path, **kw: object) -> Engine:
    return Engine(Settings(index_dir=directory, reader="heuristic"), **kw)


def _dated(i: int, published: str | None) -> Article:
    return Article(
        id=f"d{i}",
        title=f"Harbour report {i}",
        url=f"https://example.org/harbour/{i}",
        text=f"The harbour ferry carried {1000 + i} passengers on day {i}. Gulls followed it.",
        published=published,
    )


def _downgrade_to_v1(directory: Path) -> None:
    """Make the index what version 1 wrote: no publish dates, no URL sources, no feedback."""
    db = sqlite3.connect(directory / DB_NAME)
    db.executescript(
        """DROP INDEX articles_published;
        ALTER TABLE articles DROP COLUMN published;
        DROP TABLE url_sources;
        DROP TABLE feedback;
        UPDATE meta SET value='1' WHERE key='schema_version';"""
    )
    db.close()


def test_a_version_1_index_is_migrated_in_place(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.add([_dated(1, None), _dated(2, None)])
    engine.store.close()
    _downgrade_to_v1(tmp_path)

    engine = _engine(tmp_path)
    db = sqlite3.connect(tmp_path / DB_NAME)
    version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    columns = [r[1] for r in db.execute("PRAGMA table_info(articles)")]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert int(version) == SCHEMA_VERSION
    assert "published" in columns and {"url_sources", "feedback"} <= tables
    # Nothing was lost or re-embedded: the same articles, unchanged, now dateable.
    again = engine.add([_dated(1, None), _dated(2, "2016-09-08")])
    assert again.unchanged == ["d1"] and again.updated == ["d2"]
    assert again.passages_embedded == 0
    assert engine.get_article("d2").published == "2016-09-08"
    assert assert_consistent(tmp_path) == (2, 2)


@pytest.mark.parametrize(
    ("sizes", "expected_kind"),
    [
        ({}, "flat"),
        # HNSW: a small range is scored exactly, a large one through FAISS's selector.
        ({"exact_max": 0}, "HNSW"),
    ],
)
def test_searches_stay_inside_a_date_range(
    tmp_path: Path, sizes: dict[str, int], expected_kind: str
) -> None:
    engine = _engine(tmp_path)
    if sizes:
        from indexer.stores.embedded import EmbeddedStore

        engine.store.close()
        engine.store = EmbeddedStore(tmp_path, engine.embedder.name, engine.embedder.dim, **sizes)
        engine.indexer.store = engine.retriever.store = engine.store
    dates = [None, "2015-06-01", "2016-09-08", "2016-09-08T23:30:00Z", "2017-03-01"]
    engine.add([_dated(i, published) for i, published in enumerate(dates)])
    assert expected_kind in engine.store.faiss_kind()
    store = engine.store

    def articles(rowids: np.ndarray) -> set[str]:
        return {p.article_id for p in store.passages(rowids.tolist()).values()}

    assert articles(store.rowids_published("2016-09-08", None)) == {"d2", "d3", "d4"}
    assert articles(store.rowids_published(None, "2016-09-09")) == {"d1", "d2", "d3"}
    assert articles(store.rowids_published("2016-09-08", "2016-09-09")) == {"d2", "d3"}
    assert len(store.rowids_published("2030-01-01", None)) == 0

    within = store.rowids_published("2016-09-08", "2016-09-09")
    query = engine.embedder.encode_query("How many passengers did the harbour ferry carry?")
    dense = store.search_dense(query, 10, within)
    sparse = store.search_bm25(content_words("harbour ferry passengers"), 10, within)
    # Both retrievers return every allowed passage, and no other.
    assert articles(np.array([r for r, _ in dense])) == {"d2", "d3"}
    assert articles(np.array([r for r, _ in sparse])) == {"d2", "d3"}
    assert store.search_dense(query, 10, np.zeros(0, dtype=np.int64)) == []
    if expected_kind == "HNSW":  # the selector path too (a range over the exact limit)
        import indexer.stores.embedded.vectors as vectors_module

        limit = vectors_module.FILTER_EXACT_MAX
        vectors_module.FILTER_EXACT_MAX = 0
        try:
            selected = store.search_dense(query, 10, within)
        finally:
            vectors_module.FILTER_EXACT_MAX = limit
        assert articles(np.array([r for r, _ in selected])) == {"d2", "d3"}
    # FTS5 answers the same while the BM25 index is out of date.
    engine.add([_dated(9, "2014-01-01")], update_bm25=False)
    assert store.lexical() is None
    within = store.rowids_published("2016-09-08", "2016-09-09")
    sparse = store.search_bm25(content_words("harbour ferry passengers"), 10, within)
    assert articles(np.array([r for r, _ in sparse])) == {"d2", "d3"}
