"""Publish dates through the engine: ``since`` / ``until`` restrict the articles searched,
answers carry ``article.published``, and of two differing answers the newer says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.load import load_path
from qa.engine import Engine, QuestionError
from qa.settings import Settings
from qa.types import Article
from tests.conftest import SEED_ARTICLE

QUESTION_309 = "How many people associated with Islamic State has Pakistan arrested?"
NEWER = Article(
    id="pakistan-2017",
    title="Pakistan widens its crackdown on Islamic State",
    url="https://example.org/2017/pakistan",
    text="Pakistan's military said on Wednesday that authorities have now arrested 412 people "
    "associated with Islamic State, up from the figures given last year. Officials said the "
    "arrests were made in Punjab and Khyber Pakhtunkhwa.\n\nThe army did not say how many of "
    "them were foreigners.",
    published="2017-03-01",
)
FILLERS = [
    Article(
        id=f"harbour-{year}",
        title=f"Harbour ferry figures for {year}",
        text=f"The harbour ferry carried {year * 3} passengers in {year}, the port said. "
        "Gulls followed it every morning.",
        published=f"{year}-06-01",
    )
    for year in range(2010, 2020)
]


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("dated")
    engine = Engine(Settings(index_dir=directory))
    (seed,) = load_path(SEED_ARTICLE)
    seed.published = "2016-09-08"
    assert not engine.add([seed, NEWER, *FILLERS]).errors
    engine.store.close()
    return directory


@pytest.fixture(scope="module")
def engine(dated_index: Path) -> Engine:
    # Every passage handed to the reader is read, so both articles' answers come back.
    return Engine(Settings(index_dir=dated_index, read_more_below=1.0)).warm_up()


def test_answers_carry_the_publish_date_and_the_newer_answer_says_so(engine: Engine) -> None:
    result = engine.ask(QUESTION_309)
    by_text = {a.text: a for a in result.answers}
    assert {"309", "412"} <= by_text.keys()
    assert by_text["309"].article.published == "2016-09-08"
    assert by_text["412"].article.published == "2017-03-01"
    assert by_text["412"].newer_than == ["msn-pakistan-islamic-state"]
    assert by_text["309"].newer_than == []


def test_since_and_until_restrict_the_articles_searched(engine: Engine) -> None:
    since = engine.ask(QUESTION_309, since="2017-01-01")
    assert since.found and since.answers[0].text == "412"
    assert all(a.article.published >= "2017-01-01" for a in since.answers)
    until = engine.ask(QUESTION_309, until="2016-12-31")
    assert until.found and until.answers[0].text == "309"
    assert until.answers[0].article.published == "2016-09-08"
    assert all(a.article.published <= "2016-12-31" for a in until.answers)
    # An exact day keeps that day's article; a range with no article answers nothing.
    day = engine.ask(QUESTION_309, since="2016-09-08", until="2016-09-08")
    assert day.found and {a.article.id for a in day.answers} == {"msn-pakistan-islamic-state"}
    assert not engine.ask(QUESTION_309, since="2030-01-01").found


def test_the_range_is_searched_inside_retrieval_so_the_depth_still_comes_back(
    engine: Engine,
) -> None:
    # The ferry figures of 2012-2017 are in range with both Pakistan articles; the best 20
    # passages of the whole index hold all ferry figures, so a filter applied after
    # retrieval would return fewer.
    _, everything = engine.ask_traced(QUESTION_309, depth=20)
    assert {"harbour-2010", "harbour-2019"} <= {h.article_id for h in everything}
    _, hits = engine.ask_traced(QUESTION_309, depth=20, since="2012-01-01", until="2017-12-31")
    in_range = {f"harbour-{year}" for year in range(2012, 2018)}
    in_range |= {"pakistan-2017", "msn-pakistan-islamic-state"}
    assert {h.article_id for h in hits} == in_range  # every article in range, no other


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("last week", None, "not an ISO 8601 date"),
        (None, "2016-02-30", "not an ISO 8601 date"),
        ("2017-01-02", "2017-01-01", "after until"),
    ],
)
def test_bad_dates_are_clear_question_errors(
    engine: Engine, since: str | None, until: str | None, message: str
) -> None:
    with pytest.raises(QuestionError, match=message):
        engine.ask(QUESTION_309, since=since, until=until)
