"""The engine over damaged copies of a real index, with the trained reader: an answer is
returned only when it is the stored article's text (or title) at its offsets, and the
self-test behind /healthz fails when asks cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.stores.base import IndexDamagedError
from indexer.stores.embedded.records import DB_NAME
from qa.engine import Engine
from qa.retrieve import Hit
from qa.settings import Settings
from qa.types import Answer, Article, ArticleRef
from tests.corruption import QUESTION_309, edit_stored_text, questions, random_bytes

SEED_ID = "msn-pakistan-islamic-state"


def test_intact_index_answers_309_and_is_healthy(demo_engine: Engine) -> None:
    (best, *_) = demo_engine.ask(QUESTION_309).answers
    assert best.text == "309"
    assert demo_engine.health().ok and demo_engine.health().note is None


def test_a_passage_edited_to_390_never_answers_390(demo_index_copy: Path) -> None:
    assert edit_stored_text(demo_index_copy, "passages", "309 people", "390 people") >= 1
    engine = Engine(Settings(index_dir=demo_index_copy))
    article = engine.get_article(SEED_ID)
    assert article is not None and "309 people" in article.text
    for answer in engine.ask(QUESTION_309, k=5).answers:
        assert answer.text != "390"
        assert article.text[answer.start : answer.end] == answer.text
    assert engine.store.flagged()[0] >= 1
    report = engine.health()
    assert report.ok and "passages" in (report.note or "")


def test_an_article_edited_to_390_withholds_the_309_answer(demo_index_copy: Path) -> None:
    assert edit_stored_text(demo_index_copy, "articles", "309 people", "390 people") == 1
    engine = Engine(Settings(index_dir=demo_index_copy))
    result = engine.ask(QUESTION_309, k=5)
    assert all(a.article.id != SEED_ID for a in result.answers)
    assert engine.withheld >= 1
    with pytest.raises(IndexDamagedError):
        engine.get_article(SEED_ID)


def test_verification_checks_the_field_the_answer_names(demo_engine: Engine) -> None:
    article = demo_engine.get_article(SEED_ID)
    assert article is not None
    ref = ArticleRef(id=SEED_ID, title=article.title, url=article.url)
    word = article.title.split()[0]
    from_title = Answer(
        text=word,
        field="title",
        start=0,
        end=len(word),
        quote=article.title,
        quote_start=0,
        quote_end=len(article.title),
        score=0.9,
        article=ref,
    )
    i = article.text.index("309")
    from_text = Answer(
        text="309",
        start=i,
        end=i + 3,
        quote=article.text[i - 10 : i + 10],
        quote_start=i - 10,
        quote_end=i + 10,
        score=0.9,
        article=ref,
    )
    hits: list[Hit] = []
    assert demo_engine.verified([from_title, from_text], hits) == [from_title, from_text]
    withheld = demo_engine.withheld
    # The same offsets claimed for the other field, or a text that is not there: withheld.
    wrong_field = from_title.model_copy(update={"field": "text"})
    wrong_text = from_text.model_copy(update={"text": "390"})
    wrong_quote = from_text.model_copy(update={"quote": from_text.quote.upper()})
    assert demo_engine.verified([wrong_field, wrong_text, wrong_quote], hits) == []
    assert demo_engine.withheld == withheld + 3


def test_self_test_fails_when_the_answer_path_cannot_work(demo_index_copy: Path) -> None:
    engine = Engine(Settings(index_dir=demo_index_copy, reader="heuristic"))
    assert engine.self_test() is None
    # Every page but the first zeroed under the running engine (its page cache still holds
    # some): asks find nothing, and the self-test says why.
    path = demo_index_copy / DB_NAME
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(bytes(path.stat().st_size - 4096))
    for question in questions(5):
        engine.ask(question)
    report = engine.health()
    assert not report.ok
    assert "run qa-index check" in (report.reason or "")
    assert str(demo_index_copy) not in (report.reason or "")


def test_an_unreadable_database_is_a_clear_error_without_paths(demo_index_copy: Path) -> None:
    random_bytes(demo_index_copy / DB_NAME, 80, 16, 100, seed=0)  # the file header
    with pytest.raises(IndexDamagedError) as caught:
        Engine(Settings(index_dir=demo_index_copy, reader="heuristic"))
    assert "qa-index check" in str(caught.value)
    assert str(demo_index_copy) not in str(caught.value)


def test_another_process_write_is_self_tested_before_the_next_ask(demo_index_copy: Path) -> None:
    serving = Engine(Settings(index_dir=demo_index_copy, reader="heuristic"))
    assert serving.self_test() is None
    tested = serving.store.generation
    writer = Engine(Settings(index_dir=demo_index_copy, reader="heuristic"))
    bridge = Article(
        id="bridge",
        title="Harbour bridge reopens",
        text="The harbour bridge reopened on Monday. Engineers replaced 212 steel cables.",
    )
    writer.add([bridge])
    assert serving.ask("How many steel cables were replaced?").answers[0].text == "212"
    assert serving.store.generation > tested
    assert serving.health().ok
