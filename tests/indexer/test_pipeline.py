"""The indexing pipeline's writes: what counts as a change, and how long a write holds the
writer lock (real model, real index)."""

from __future__ import annotations

import threading
from pathlib import Path

from indexer.load import load_path
from qa.engine import Engine
from qa.settings import Settings
from qa.types import Article
from tests.conftest import SEED_ARTICLE
from tests.indexer.test_store import assert_consistent


def _engine(directory: Path) -> Engine:
    return Engine(Settings(index_dir=directory, reader="heuristic"))


def test_an_update_of_meta_alone_is_applied(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    (article,) = load_path(SEED_ARTICLE)
    assert engine.add([article]).added == [article.id]
    assert engine.add([article]).unchanged == [article.id]
    changed = article.model_copy(update={"meta": {**article.meta, "section": "world"}})
    report = engine.add([changed])
    assert report.updated == [article.id] and report.passages_embedded == 0
    stored = engine.get_article(article.id)
    assert stored is not None and stored.meta["section"] == "world"
    assert engine.add([changed]).unchanged == [article.id]
    assert_consistent(tmp_path)


def test_a_large_write_does_not_hold_the_writer_lock_while_it_embeds(tmp_path: Path) -> None:
    """While a long article's passages are being embedded, another write goes through: the
    lock is taken only to write. (Held for the whole add, the small write would wait for
    the large one, which waits here for the small one: the join below would time out.)"""
    writer = _engine(tmp_path)
    other = _engine(tmp_path)  # another writer: its own file lock on the same index
    words = SEED_ARTICLE.read_text(encoding="utf-8").replace(".", "").split()
    long_text = " ".join(words[i % len(words)] for i in range(12_000))  # one long sentence
    small = Article(id="small", title="Small", text="A small article about 212 cables.")
    finished = threading.Event()

    def write_meanwhile(_: int) -> None:
        if finished.is_set() or threading.current_thread().name == "small-writer":
            return
        thread = threading.Thread(target=lambda: other.add([small]), name="small-writer")
        thread.start()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the small write waited for the large one"
        finished.set()

    report = writer.add(
        [Article(id="long", title="Long", text=long_text)], progress=write_meanwhile
    )
    assert finished.is_set()
    assert report.added == ["long"] and report.passages_embedded > 20
    assert writer.get_article("small") is not None
    assert assert_consistent(tmp_path) == (2, report.passages_total + 1)
