"""Spans that cannot answer the question: no year for "which year", no month for "which
month", the question's own words, a sentence with no negation for a negated question, the side
that lost for "who won", an article published before the year asked about, a year the article
only expected."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.text.answer_checks import (
    asks_for_a_year,
    cannot_answer,
    foretold,
    misses_the_negation,
    names_the_loser,
    not_a_month,
    not_a_year,
    repeats_the_question,
    reported_before,
)

AIR_SHOW = (
    "Qatar Airways ordered A350s at the 2005 Paris Air Show. In which year did the first one "
    "enter service?"
)
TERRACE = "What type of forested areas are on the highest terrace?"


@pytest.mark.parametrize(
    ("check", "question", "answer", "flagged"),
    [
        (not_a_year, "In which year were the recorders recovered?", "June", True),
        (not_a_year, "What year did Saturn wind down?", "October", True),
        (not_a_year, "In which year were the recorders recovered?", "2011", False),
        (not_a_year, "What year did the war end?", "the 1990s", False),
        (not_a_year, "In which month were the recorders recovered?", "June", False),
        (not_a_year, "When did the war end?", "soon after", False),
        (not_a_month, "In which month and year did Apple reach $1 trillion?", "1984", True),
        (not_a_month, "What month did the strike begin?", "the second week", True),
        (not_a_month, "What month did the strike begin?", "the marathon", True),
        (not_a_month, "In which month and year did Apple reach $1 trillion?", "August 2018", False),
        (not_a_month, "What month did the strike begin?", "Sept.", False),
        # another calendar's month is a name of its own
        (not_a_month, "Which month is designated for fasting?", "Ramadan", False),
        (not_a_month, "In which year did the strike begin?", "1984", False),
        (repeats_the_question, AIR_SHOW, "2005", True),
        (repeats_the_question, TERRACE, "Forested", True),
        (repeats_the_question, TERRACE, "the forested", True),
        # a choice is answered by one of its own words
        (repeats_the_question, "Which team won, Denver or Carolina?", "Denver", False),
        # words inside a longer word of the question are not its words
        (repeats_the_question, "Who founded Newark?", "New", False),
        (repeats_the_question, "Who founded the city?", "Robert Treat", False),
        (repeats_the_question, "Who founded the city?", "", False),
    ],
)
def test_a_span_of_the_wrong_kind_is_flagged(
    check: Callable[[str, str], bool], question: str, answer: str, flagged: bool
) -> None:
    assert check(question, answer) is flagged
    assert cannot_answer(question, answer) is flagged


NEPAL = "What was the magnitude of the earthquake that devastated Nepal in April 2015?"
EARLIER_QUAKE = "It followed the massive 9.0 magnitude earthquake."


def test_an_article_published_before_the_year_asked_about_is_flagged() -> None:
    assert reported_before(NEPAL, EARLIER_QUAKE, "2011-03-17")
    # published that year or later, or with no (usable) date
    for published in ("2015-04-25", "2016-01-02T08:00:00Z", None, "undated"):
        assert not reported_before(NEPAL, EARLIER_QUAKE, published)
    # the sentence names the year itself: a plan, a schedule
    plan = "When were the Dreamliners ordered in 2007 due to be delivered in 2014?"
    assert not reported_before(plan, "Deliveries are due in 2014.", "2007-06-01")
    # no year in the question: money and shares are not years
    assert not reported_before("What was the magnitude?", EARLIER_QUAKE, "2011-03-17")
    assert not reported_before("Who paid $2015 for it?", "Smith paid for it.", "2011-03-17")


A380 = "In which year did Airbus announce that it would stop building the A380?"


def test_a_year_the_article_only_expected_is_flagged() -> None:
    # "Qantas plans to commence A380 operations starting in April 2007", read in 2005
    assert foretold(A380, "April 2007", "2005-11-05")
    assert foretold("What year was the plant closed?", "2011", "2009-06-05")  # not "planned"
    # the year had come when the article was written, or the date is unknown
    for published in ("2007-01-02", "2008-05-01", None, "undated"):
        assert not foretold(A380, "April 2007", published)
    # a question about what was expected, or in the future tense, is answered by that year
    due = "In which year were the Dreamliners ordered by Aeroflot due to be delivered?"
    assert not foretold(due, "2014", "2007-06-01")
    assert not foretold("In which year will the line open?", "2014", "2007-06-01")
    assert not foretold("Who announced it?", "Airbus in 2007", "2005-11-05")


def test_questions_that_name_or_ask_for_a_year_use_the_articles_dates() -> None:
    assert asks_for_a_year(A380)
    assert asks_for_a_year(NEPAL)
    assert not asks_for_a_year("What was the magnitude of the earthquake?")


WON = "Which team won Super Bowl 50?"


@pytest.mark.parametrize(
    ("question", "sentence", "answer", "flagged"),
    [
        (WON, "Denver beat Carolina 24-10.", "Carolina", True),
        (WON, "Denver beat Carolina 24-10.", "Denver", False),
        (WON, "It was Denver's victory over the Carolina Panthers.", "Carolina Panthers", True),
        (WON, "Carolina, the favourite, lost 24-10.", "Carolina", True),
        (WON, "Carolina lost to Denver.", "Denver", False),
        ("Which nation\u2019s team won?", "Denver beat Carolina.", "Carolina", True),
        ("Who defeated Carolina?", "Denver defeated the Panthers.", "Panthers", True),
        # the question asks for the side that lost
        ("Which team did Denver beat?", "Denver beat Carolina 24-10.", "Carolina", False),
        ("Who lost Super Bowl 50?", "Denver beat Carolina 24-10.", "Carolina", False),
        ("Who scored first?", "Denver beat Carolina 24-10.", "Carolina", False),
    ],
)
def test_the_side_that_lost_does_not_answer_who_won(
    question: str, sentence: str, answer: str, flagged: bool
) -> None:
    start = sentence.index(answer)
    assert names_the_loser(question, sentence, (start, start + len(answer))) is flagged


@pytest.mark.parametrize(
    ("question", "sentence", "flagged"),
    [
        ("What did the treaty not cover?", "The treaty covered fishing rights.", True),
        ("Who never visited Paris?", "Chopin visited Paris in 1831.", True),
        ("Which city wasn't rebuilt?", "Warsaw was rebuilt after the war.", True),
        ("What did the treaty not cover?", "The treaty did not cover fishing rights.", False),
        ("Which city wasn't rebuilt?", "Only Dresden was never rebuilt.", False),
        ("Who refused to sign?", "France refused to sign.", False),  # the question is not negated
        ("What was no longer made?", "Apple stopped making the iPod Hi-Fi.", True),
        ("Which group does not vote?", "Children cannot vote.", False),
        # a typographic apostrophe, in the question or in the sentence
        ("Which city wasn\u2019t rebuilt?", "Warsaw was rebuilt after the war.", True),
        ("Which city wasn't rebuilt?", "Dresden wasn\u2019t rebuilt.", False),
    ],
)
def test_a_negated_question_needs_a_negation_in_the_answers_sentence(
    question: str, sentence: str, flagged: bool
) -> None:
    assert misses_the_negation(question, sentence) is flagged
