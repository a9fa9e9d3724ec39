"""Incremental add/update/remove and recovery, over a real index (real model, FAISS, SQLite)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np
import pytest

from indexer.stores.base import IndexMismatchError
from indexer.stores.embedded import EmbeddedStore
from indexer.stores.embedded.bm25 import LEXICAL_DIR
from indexer.stores.embedded.lexical import LexicalIndex
from indexer.stores.embedded.records import DB_NAME
from indexer.stores.embedded.vectors import FAISS_NAME
from qa.engine import Engine
from qa.settings import Settings
from qa.types import Article


def _engine(directory: Path) -> Engine:
    return Engine(Settings(index_dir=directory, reader="heuristic"))


def assert_consistent(directory: Path) -> tuple[int, int]:
    """FAISS ids == passage rowids == FTS rows (== the BM25 index's, if built for this
    generation), one passage set per article."""
    db = sqlite3.connect(directory / DB_NAME)
    rowids = sorted(r[0] for r in db.execute("SELECT rowid FROM passages"))
    generation = int(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
    fts = db.execute("SELECT count(*) FROM passages_fts").fetchone()[0]
    orphans = db.execute(
        "SELECT count(*) FROM passages WHERE article_id NOT IN (SELECT id FROM articles)"
    ).fetchone()[0]
    dupes = db.execute(
        "SELECT count(*) FROM (SELECT article_id, start, end FROM passages "
        "GROUP BY article_id, start, end HAVING count(*) > 1)"
    ).fetchone()[0]
    articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    db.close()
    index = faiss.read_index(str(directory / FAISS_NAME))
    ids = sorted(faiss.vector_to_array(index.id_map).tolist())
    assert ids == rowids
    assert fts == len(rowids)
    assert orphans == 0 and dupes == 0
    lexical = LexicalIndex.load(directory / LEXICAL_DIR, generation)
    if lexical is not None:
        assert sorted(lexical.rowids.tolist()) == rowids
    return articles, len(rowids)


def _article(i: int, extra: str = "") -> Article:
    return Article(
        id=f"a{i}",
        title=f"Article {i}",
        url=f"https://example.org/{i}",
        text=f"Article number {i} talks about topic {i}. It has a second sentence. {extra}".strip(),
    )


def test_add_is_incremental(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    first = engine.add([_article(1), _article(2)])
    assert first.added == ["a1", "a2"] and first.passages_embedded == 2
    again = engine.add([_article(1), _article(2)])
    assert again.unchanged == ["a1", "a2"] and again.passages_embedded == 0
    assert assert_consistent(tmp_path) == (2, 2)


def test_changed_article_replaces_its_passages(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.add([_article(1), _article(2)])
    report = engine.add([_article(1, extra="Now with news about zebras.")])
    assert report.updated == ["a1"] and report.passages_embedded == 1
    assert "zebras" in engine.get_article("a1").text
    assert assert_consistent(tmp_path) == (2, 2)
    hits = engine.store.search_bm25(["zebras"], 5)
    assert len(hits) == 1


def test_same_url_under_a_new_id_replaces_the_old_article(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.add([_article(1)])
    moved = _article(1, extra="Updated.").model_copy(update={"id": "renamed"})
    report = engine.add([moved])
    assert report.updated == ["renamed"]
    assert engine.get_article("a1") is None and engine.get_article("renamed")
    assert assert_consistent(tmp_path) == (1, 1)


def test_remove_deletes_from_faiss_fts_and_sqlite(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.add([_article(1), _article(2, extra="Unique word quokka.")])
    removed, missing = engine.remove(["a2", "nope"])
    assert removed == ["a2"] and missing == ["nope"]
    assert engine.store.search_bm25(["quokka"], 5) == []
    assert engine.store.vectors.index.ntotal == 1
    assert assert_consistent(tmp_path) == (1, 1)


def test_duplicate_ids_in_one_batch_keep_the_last(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    report = engine.add([_article(1), _article(1, extra="Second copy.")])
    assert report.duplicates == ["a1"]
    assert "Second copy." in engine.get_article("a1").text
    assert assert_consistent(tmp_path) == (1, 1)


def test_another_model_or_schema_gives_a_clear_error(tmp_path: Path) -> None:
    EmbeddedStore(tmp_path, "all-MiniLM-L6-v2", 384).close()
    with pytest.raises(IndexMismatchError, match="built with model all-MiniLM-L6-v2"):
        EmbeddedStore(tmp_path, "other-model", 768)
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(IndexMismatchError, match="schema version 99"):
        EmbeddedStore(tmp_path, "all-MiniLM-L6-v2", 384)


def test_stale_or_torn_faiss_file_is_repaired_on_open(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.add([_article(1), _article(2), _article(3)])
    engine.store.close()
    # A crash after the SQLite commit but before the FAISS rename leaves an older file.
    stale = faiss.IndexIDMap2(faiss.IndexFlatIP(384))
    stale.add_with_ids(np.ones((1, 384), np.float32), np.array([999], dtype=np.int64))
    faiss.write_index(stale, str(tmp_path / FAISS_NAME))
    store = EmbeddedStore(tmp_path, "all-MiniLM-L6-v2", 384)
    assert store.vectors.index.ntotal == 3
    store.close()
    assert_consistent(tmp_path)
    (tmp_path / FAISS_NAME).write_bytes(b"torn")
    EmbeddedStore(tmp_path, "all-MiniLM-L6-v2", 384).close()
    assert assert_consistent(tmp_path) == (3, 3)


def test_a_second_process_sees_writes_of_the_first(tmp_path: Path) -> None:
    reader, writer = _engine(tmp_path), _engine(tmp_path)
    writer.add([_article(1, extra="Wombats dig burrows.")])
    assert reader.store.refresh()
    hits = reader.retriever.retrieve("Which animals dig burrows?", 1)
    assert hits and hits[0].article_id == "a1"


def test_full_text_reads_run_in_parallel_threads_and_see_new_writes(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    # Without a current BM25 index, BM25 queries go to FTS5, the path tested here.
    engine.add([_article(i) for i in range(6)], update_bm25=False)
    store = engine.store
    assert store.lexical() is None
    queries = [["topic", str(i)] for i in range(6)] * 4
    expected = [store.search_bm25(q, 3) for q in queries]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(lambda q: store.search_bm25(q, 3), queries)) == expected
    assert len(store.records.text_dbs) >= 2  # one read connection per thread that searched
    # A thread's read connection sees what was committed after it was opened.
    assert store.search_bm25(["quokkas"], 3) == []
    engine.add([_article(9, extra="Quokkas smile.")], update_bm25=False)
    assert [
        engine.store.passages([r])[r].article_id for r, _ in store.search_bm25(["quokkas"], 3)
    ] == ["a9"]
    assert store.document_frequency("quokkas")[0] == 1
    store.close()
    assert store.records.text_dbs == []
