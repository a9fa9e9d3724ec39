"""The BM25 index: terms, ranking against FTS5, files per generation, and its life in the store."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from core.text.terms import terms
from core.text.words import content_words
from indexer.stores.embedded.bm25 import LEXICAL_DIR
from indexer.stores.embedded.lexical import LexicalIndex
from indexer.stores.embedded.records import fts_query
from qa.engine import Engine
from qa.settings import Settings
from qa.types import Article
from tests.indexer.test_store import assert_consistent

PASSAGES = [
    (3, "Beyoncé sang at the opening of the stadium in 2001."),
    (5, "The cities of Poland grew fast; Warsaw is the largest city."),
    (8, "Kraków was the capital before Warsaw. The city keeps its castle."),
    (13, "Penguins eat fish. Keepers feed the penguins every morning."),
    (21, "The stadium opened with a concert and a football match."),
]


def test_terms() -> None:
    assert terms(content_words("Which cities did Beyonce visit?")) == ["citi", "beyonc", "visit"]
    assert terms(["beyoncé", "kraków"]) == ["beyonc", "krakow"]  # accents folded, as FTS5 does
    assert fts_query(["said", 'a"b']) == '"said" OR "a""b"'


def test_search_finds_stems_and_folded_accents_by_rowid() -> None:
    index = LexicalIndex.build(PASSAGES, generation=4)
    assert [r for r, _ in index.search(["beyonce"], 5)] == [3]
    assert [r for r, _ in index.search(["krakow"], 5)] == [8]
    best = index.search(["city", "warsaw"], 5)
    assert {r for r, _ in best} == {5, 8}
    assert all(a[1] >= b[1] > 0 for a, b in zip(best, best[1:], strict=False))
    assert index.search(["penguin"], 1) == index.search(["penguins", "penguin"], 1)
    assert index.search(["giraffe"], 5) == [] and index.search([], 5) == []
    assert LexicalIndex.build([], generation=0).search(["city"], 5) == []
    assert index.document_frequency("city") == 2  # "cities" and "city" share the stem
    assert index.document_frequency("kraków") == 1 and index.document_frequency("zebra") == 0


def test_saved_index_is_kept_per_generation(tmp_path: Path) -> None:
    old = LexicalIndex.build(PASSAGES[:2], generation=1)
    old.save(tmp_path)
    (tmp_path / f".building-{2**22 + 7}-1").mkdir()  # left by a killed builder (pid > pid_max)
    new = LexicalIndex.build(PASSAGES, generation=2)
    new.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2"]  # older ones are dropped
    loaded = LexicalIndex.load(tmp_path, 2)
    assert loaded is not None and loaded.generation == 2 and len(loaded) == len(PASSAGES)
    for words in (["stadium"], ["city", "warsaw"], ["penguins", "morning"]):
        assert loaded.search(words, 5) == new.search(words, 5)
    assert LexicalIndex.load(tmp_path, 3) is None  # not built for that generation
    (tmp_path / "2" / "rowids.npy").write_bytes(b"torn")
    assert LexicalIndex.load(tmp_path, 2) is None


def _articles() -> list[Article]:
    return [
        Article(id=f"p{rowid}", title=f"Passage {rowid}", text=text) for rowid, text in PASSAGES
    ]


def test_store_keeps_bm25_current_and_falls_back_to_fts5(tmp_path: Path) -> None:
    engine = Engine(Settings(index_dir=tmp_path, reader="heuristic"))
    engine.add(_articles())
    store = engine.store
    lexical = store.lexical()
    assert lexical is not None and lexical.generation == store.generation
    assert assert_consistent(tmp_path) == (5, 5)

    def article_ids(words: list[str]) -> list[str]:
        hits = store.search_bm25(words, 5)
        return [store.passages([r])[r].article_id for r, _ in hits]

    from_bm25 = article_ids(["stadium", "opening"])
    assert from_bm25[0] == "p3"
    # A write without the rebuild: the index is stale, FTS5 answers and sees the new passage.
    engine.add(
        [Article(id="q", title="Q", text="Quokkas live near the stadium.")], update_bm25=False
    )
    assert store.lexical() is None
    assert "q" in article_ids(["quokkas"])
    assert article_ids(["stadium", "opening"])[0] == "p3"  # FTS5 ranks this one alike
    from_fts5 = [store.document_frequency(w) for w in ("stadium", "cities", "quokkas", "emu")]
    store.update_lexical()
    assert store.lexical() is not None and article_ids(["quokkas"]) == ["q"]
    assert [store.document_frequency(w) for w in ("stadium", "cities", "quokkas", "emu")] == (
        from_fts5
    )
    assert sorted(p.name for p in (tmp_path / LEXICAL_DIR).iterdir()) == [str(store.generation)]
    assert assert_consistent(tmp_path) == (6, 6)
    engine.remove(["q"])
    assert article_ids(["quokkas"]) == [] and store.lexical() is not None


def test_another_process_loads_the_writers_bm25_index(tmp_path: Path) -> None:
    reader = Engine(Settings(index_dir=tmp_path, reader="heuristic"))
    writer = Engine(Settings(index_dir=tmp_path, reader="heuristic"))
    writer.add(_articles())
    assert reader.store.refresh()
    lexical = reader.store.lexical()
    assert lexical is not None and lexical is not writer.store.lexical()  # read from disk
    hits = reader.retriever.retrieve("Who feeds the penguins?", 1)
    assert hits[0].article_id == "p13"


def test_warm_up_rebuilds_a_missing_bm25_index_in_the_background(tmp_path: Path) -> None:
    Engine(Settings(index_dir=tmp_path, reader="heuristic")).add(_articles())
    shutil.rmtree(tmp_path / LEXICAL_DIR)  # e.g. written by a version without one
    engine = Engine(Settings(index_dir=tmp_path, reader="heuristic"))
    assert engine.store.lexical() is None
    engine.warm_up()
    # Answering does not wait for the build: FTS5 serves meanwhile.
    assert engine.ask("Who feeds the penguins every morning?").answers
    assert _wait_for_bm25(engine)
    assert (tmp_path / LEXICAL_DIR / str(engine.store.generation)).is_dir()


def _wait_for_bm25(engine: Engine, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while engine.store.lexical() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return engine.store.lexical() is not None


def test_writes_during_a_background_build_get_a_build_of_their_own(tmp_path: Path) -> None:
    engine = Engine(Settings(index_dir=tmp_path, reader="heuristic"))
    store = engine.store
    # As the API does: each write asks for a rebuild without waiting for it.
    for i, article in enumerate(_articles()):
        engine.add([article], update_bm25=False)
        engine.update_bm25(background=True)
        if i == 1:
            engine.remove(["p3"], update_bm25=False)
            engine.update_bm25(background=True)
    assert _wait_for_bm25(engine)
    deadline = time.monotonic() + 60
    while store.bm25.builder is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    lexical = store.lexical()
    assert lexical is not None and lexical.generation == store.records.generation()
    assert len(lexical) == len(PASSAGES) - 1
    assert assert_consistent(tmp_path) == (4, 4)
