"""Damaged copies of a real index (the demo corpus, real model, FAISS, SQLite, BM25): no
answer that is not the intact article's text ever leaves the engine, derived files are
rebuilt (logged) and answers return to the intact index's, ``qa-index check`` finds each
kind of damage and ``qa-index repair`` re-derives what can be re-derived."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.stores.embedded.records import DB_NAME
from indexer.stores.embedded.vectors import FAISS_NAME
from qa.engine import Engine
from qa.settings import Settings
from tests.corruption import (
    QUESTION_309,
    bm25_file,
    copy_index,
    edit_stored_text,
    faiss_vector_bytes,
    npy_data_range,
    questions,
    random_bytes,
    random_vectors_index,
)

Answers = dict[str, list[tuple]]


def _engine(directory: Path) -> Engine:
    return Engine(Settings(index_dir=directory, reader="heuristic"))


def _answers(engine: Engine, asked: list[str]) -> Answers:
    return {
        q: [(a.text, a.field, a.start, a.end, a.article.id) for a in engine.ask(q).answers]
        for q in asked
    }


def qa_index(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from indexer.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def intact(demo_index: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Answers]:
    """An engine over an untouched copy, and its answers to the test questions."""
    engine = _engine(copy_index(demo_index, tmp_path_factory.mktemp("intact") / "index"))
    return engine, _answers(engine, questions())


def assert_verbatim_in_intact(engine: Engine, pristine: Engine, asked: list[str]) -> int:
    """Every answer ``engine`` gives is the intact article's text (or title) at its offsets,
    quote included. Returns how many answers it gave."""
    given = 0
    for q in asked:
        for a in engine.ask(q).answers:
            article = pristine.get_article(a.article.id)
            assert article is not None
            field = article.title if a.field == "title" else article.text
            assert field[a.start : a.end] == a.text, (q, a)
            assert field[a.quote_start : a.quote_end] == a.quote, (q, a)
            given += 1
    return given


def test_check_passes_an_intact_index(demo_index_copy: Path) -> None:
    result = qa_index("check", "--index", str(demo_index_copy))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout


def test_a_same_length_edit_of_a_stored_passage_never_reaches_an_answer(
    demo_index_copy: Path, intact: tuple[Engine, Answers]
) -> None:
    pristine, before = intact
    assert edit_stored_text(demo_index_copy, "passages", "309 people", "390 people") >= 1
    engine = _engine(demo_index_copy)
    assert assert_verbatim_in_intact(engine, pristine, questions()) > 0
    assert all(a.text != "390" for a in engine.ask(QUESTION_309).answers)
    assert engine.store.flagged()[0] >= 1
    engine.store.close()

    check = qa_index("check", "--index", str(demo_index_copy))
    assert check.returncode == 1
    assert "does not match its checksum" in check.stdout and "passage" in check.stdout
    repair = qa_index("repair", "--index", str(demo_index_copy))
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert qa_index("check", "--index", str(demo_index_copy)).returncode == 0
    assert _answers(_engine(demo_index_copy), questions()) == before


def test_a_same_length_edit_of_a_stored_article_withholds_its_answers(
    demo_index_copy: Path, intact: tuple[Engine, Answers]
) -> None:
    pristine, _ = intact
    assert edit_stored_text(demo_index_copy, "articles", "309 people", "390 people") == 1
    engine = _engine(demo_index_copy)
    assert assert_verbatim_in_intact(engine, pristine, questions()) > 0
    # The passage still says 309, at offsets where the article now says 390: not returned.
    assert all(a.text != "309" for a in engine.ask(QUESTION_309).answers)
    assert engine.withheld >= 1
    assert engine.health().note and "withheld" in engine.health().note
    engine.store.close()

    check = qa_index("check", "--index", str(demo_index_copy))
    assert check.returncode == 1
    assert "article msn-pakistan-islamic-state" in check.stdout
    assert "not repairable" in check.stdout
    kept = qa_index("repair", "--index", str(demo_index_copy))
    assert kept.returncode == 1  # the article has no other copy to be re-derived from
    assert "add it again from its source" in kept.stderr
    removed = qa_index("repair", "--index", str(demo_index_copy), "--remove-damaged")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert _engine(demo_index_copy).get_article("msn-pakistan-islamic-state") is None


def _damage_faiss(directory: Path, how: str) -> None:
    path = directory / FAISS_NAME
    if how == "random-bytes-in-vectors":
        lo, hi = faiss_vector_bytes(directory)
        random_bytes(path, 5000, lo, hi, seed=1)
    elif how == "valid-file-random-vectors":
        random_vectors_index(directory, seed=2)
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    else:
        path.write_bytes(bytes(path.stat().st_size))


@pytest.mark.parametrize(
    "how", ["random-bytes-in-vectors", "valid-file-random-vectors", "truncated", "zeroed"]
)
def test_a_damaged_vector_file_is_rebuilt_and_answers_return(
    demo_index_copy: Path,
    intact: tuple[Engine, Answers],
    how: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, before = intact
    _damage_faiss(demo_index_copy, how)
    check = qa_index("check", "--index", str(demo_index_copy))
    assert check.returncode == 1 and "faiss" in check.stdout
    with caplog.at_level(logging.WARNING, logger="indexer.stores.embedded.vectors"):
        engine = _engine(demo_index_copy)
        assert _answers(engine, questions()) == before  # checked (and rebuilt) before use
    assert any("rebuilding it from the vectors in SQLite" in r.message for r in caplog.records)
    # The rebuilt file is on disk with its checksum, and later writes start from it.
    assert engine.remove(["Warsaw"])[0] == ["Warsaw"]
    engine.store.close()
    assert qa_index("check", "--index", str(demo_index_copy)).returncode == 0


@pytest.mark.parametrize("array", ["indices", "data", "indptr"])
def test_a_damaged_bm25_array_is_rebuilt_and_answers_return(
    demo_index_copy: Path,
    intact: tuple[Engine, Answers],
    array: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pristine, before = intact
    path = bm25_file(demo_index_copy, array)
    random_bytes(path, 200, *npy_data_range(path), seed=3)
    check = qa_index("check", "--index", str(demo_index_copy))
    assert check.returncode == 1 and "bm25" in check.stdout
    with caplog.at_level(logging.WARNING):
        engine = _engine(demo_index_copy)
        # Every ask works meanwhile (FTS5 answers) and stays verbatim.
        assert assert_verbatim_in_intact(engine, pristine, questions()) > 0
    assert any("is damaged" in r.message for r in caplog.records)
    engine.update_bm25()
    assert engine.store.lexical() is not None
    assert _answers(engine, questions()) == before
    engine.store.close()
    assert qa_index("check", "--index", str(demo_index_copy)).returncode == 0


def test_a_bm25_array_damaged_while_in_use_does_not_fail_asks(
    demo_index_copy: Path, intact: tuple[Engine, Answers]
) -> None:
    pristine, _ = intact
    engine = _engine(demo_index_copy)
    assert engine.store.lexical() is not None
    path = bm25_file(demo_index_copy, "indices")
    random_bytes(path, 2000, *npy_data_range(path), seed=4)  # the file is memory-mapped
    assert assert_verbatim_in_intact(engine, pristine, questions()) > 0


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_in_the_sqlite_file(
    demo_index_copy: Path, intact: tuple[Engine, Answers], seed: int
) -> None:
    """200 random bytes in the first half of ``index.sqlite``: the engine opens (or says
    why not), every answer it gives is verbatim in the intact articles, /healthz fails
    whenever an ask fails, and ``qa-index check`` finds the damage."""
    pristine, before = intact
    path = demo_index_copy / DB_NAME
    random_bytes(path, 200, 0, path.stat().st_size // 2, seed=seed)
    check = qa_index("check", "--index", str(demo_index_copy))
    found = check.returncode == 1
    try:
        engine = _engine(demo_index_copy)
    except Exception as exc:  # noqa: BLE001 - which error is the point of the assertion
        assert type(exc).__name__ == "IndexDamagedError"
        assert str(demo_index_copy) not in str(exc)
        assert found, check.stdout
        return
    failed = 0
    for q in questions():
        try:
            assert_verbatim_in_intact(engine, pristine, [q])
        except AssertionError:
            raise
        except Exception:  # noqa: BLE001 - counted: health must then say so
            failed += 1
    health = engine.health()
    if failed:
        assert not health.ok
    # Damage that changes nothing is no damage: otherwise check must find it.
    assert found or _answers(engine, questions()) == before, check.stdout
