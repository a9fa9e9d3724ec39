"""Spans that cannot answer the question: no year for "which year", the question's own words."""

from __future__ import annotations

import pytest

from core.text.answer_checks import cannot_answer, not_a_year, repeats_the_question


@pytest.mark.parametrize(
    ("question", "answer", "flagged"),
    [
        ("In which year were the recorders recovered?", "June", True),
        ("What year did Saturn wind down?", "October", True),
        ("In which year were the recorders recovered?", "2011", False),
        ("What year did the war end?", "the 1990s", False),
        ("In which month were the recorders recovered?", "June", False),
        ("When did the war end?", "soon after", False),
    ],
)
def test_a_year_question_needs_a_digit(question: str, answer: str, flagged: bool) -> None:
    assert not_a_year(question, answer) is flagged


@pytest.mark.parametrize(
    ("question", "answer", "flagged"),
    [
        (
            "Qatar Airways ordered A350s at the 2005 Paris Air Show. In which year did the "
            "first one enter service?",
            "2005",
            True,
        ),
        ("What type of forested areas are on the highest terrace?", "Forested", True),
        ("What type of forested areas are on the highest terrace?", "the forested", True),
        # a choice is answered by one of its own words
        ("Which team won, Denver or Carolina?", "Denver", False),
        # words inside a longer word of the question are not its words
        ("Who founded Newark?", "New", False),
        ("Who founded the city?", "Robert Treat", False),
        ("Who founded the city?", "", False),
    ],
)
def test_an_answer_the_question_already_says(question: str, answer: str, flagged: bool) -> None:
    assert repeats_the_question(question, answer) is flagged
    assert cannot_answer(question, answer) is flagged
