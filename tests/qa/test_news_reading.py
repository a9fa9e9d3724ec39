"""News furniture never becomes an answer or a quote; the headline is read and quoted
verbatim (``field == "title"``)."""

from __future__ import annotations

import pytest

from qa.engine import Engine
from qa.settings import Settings
from qa.types import Article

SANDWICH = Article(
    id="sandwich",
    title="Subway launches a footlong breakfast sandwich",
    url="https://example.com/business/subway-breakfast",
    text=(
        "By Jane Doe, CNN\n\n"
        "New York CNN Business — The sandwich chain is launching a breakfast menu next week "
        "in 2,000 of its stores.\n\n"
        "Sign up for CNN's Before the Bell newsletter to get the news in your inbox.\n\n"
        "The menu will cost about $6, the company said on Tuesday.\n\n"
        "Related: How the sandwich wars began\nWhy fast food prices keep rising\n"
        "The chains that closed the most stores"
    ),
)
# Wikinews' shape: the headline, the date it was written on a line of its own, a caption.
BOEING = Article(
    id="boeing",
    title="Boeing delays its new narrowbody",
    text=(
        "Boeing delays its new narrowbody\n\n"
        "Saturday, May 24, 2008\n\n"
        "Boeing said on Friday that a replacement for its 737 would not enter service until "
        "around 2020, because engine technology must advance first.\n\n"
        "A Boeing 737 at Seattle. Image: John Roe.\n\n"
        "The company had planned to decide on the new plane by 2010."
    ),
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = Engine(Settings(index_dir=tmp_path_factory.mktemp("news"), answer_threshold=0.0))
    engine.add([SANDWICH, BOEING])
    engine.update_bm25()
    return engine


@pytest.mark.parametrize(
    "question",
    [
        "Which company is launching a breakfast menu?",
        "Which news network reported on the breakfast menu?",
        "Who wrote the article about the breakfast menu?",
        "Which newsletter can readers sign up for?",
        "How did the sandwich wars begin?",
    ],
)
def test_furniture_is_never_an_answer_or_quoted(engine: Engine, question: str) -> None:
    result = engine.ask(question, k=5)
    for answer in result.answers:
        source = engine.get_article(answer.article.id)
        assert source is not None
        text = source.field_text(answer.field)
        assert text[answer.start : answer.end] == answer.text
        assert text[answer.quote_start : answer.quote_end] == answer.quote
        for furniture in ("CNN", "Jane Doe", "Sign up", "newsletter", "Related", "Why fast food"):
            assert furniture not in answer.text, (question, answer.text)
            assert furniture not in answer.quote, (question, answer.quote)


@pytest.mark.parametrize(
    "question",
    [
        "Around which year will Boeing's 737 replacement enter service?",
        "On what day did Boeing announce the delay of its new narrowbody?",
        "Who took the photo of the Boeing 737 at Seattle?",
    ],
)
def test_a_date_line_and_a_caption_are_never_answers_or_quoted(
    engine: Engine, question: str
) -> None:
    for answer in engine.ask(question, k=5).answers:
        for furniture in ("May 24", "2008", "Saturday", "Image", "John Roe"):
            assert furniture not in answer.text, (question, answer.text)
            assert furniture not in answer.quote, (question, answer.quote)


def test_a_fact_only_the_headline_names_is_answered_from_the_title(engine: Engine) -> None:
    # The body only says "the sandwich chain"; the name is in the headline.
    best = engine.ask("Which sandwich chain is launching a breakfast menu?", k=3).answers[0]
    assert (best.text, best.field) == ("Subway", "title")
    assert SANDWICH.title[best.start : best.end] == best.text
    assert best.quote == SANDWICH.title and (best.quote_start, best.quote_end) == (
        0,
        len(SANDWICH.title),
    )
