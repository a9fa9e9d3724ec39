"""A sentence that names the question's place only as another place ("New France"), and a
span that stands where the question has its own name."""

from __future__ import annotations

import pytest

from core.text.names import (
    names_another_place,
    owns_what_is_asked,
    question_names,
    takes_the_names_place,
)


def test_the_question_names_skip_its_first_word() -> None:
    assert question_names("What is the capital of France?") == ["France"]
    assert question_names("Paris is the capital of which country?") == []
    assert question_names("When did the Duke of York visit New York City?") == [
        "Duke",
        "York",
        "New York City",
    ]


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        (
            "What is the capital of France?",
            "Loudoun planned one major operation for 1757: an attack on New France's capital, "
            "Quebec.",
        ),
        (
            "Which city blocks Charleston for expanding down the peninsula?",
            "West of the Ashley River, North Charleston blocks any expansion.",
        ),
        ("Which state's capital is Charleston in Virginia?", "Charleston, West Virginia."),
    ],
)
def test_a_sentence_about_another_place_of_that_name_is_flagged(
    question: str, sentence: str
) -> None:
    assert names_another_place(question, sentence)


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        # the place itself is named as well
        (
            "What is the capital of France?",
            "France ceded New France to Britain; Paris stayed the capital of France.",
        ),
        # the question asks about the other place itself
        (
            "What was the capital of New France?",
            "An attack on New France's capital, Quebec.",
        ),
        # the sentence does not name the place at all: no evidence either way
        ("What is the capital of France?", "Its capital is Paris."),
        # titles name the same person or place
        ("When did George die?", "King George died in 1820."),
        ("How deep is Geneva?", "Lake Geneva is 310 m deep."),
        # a compass word elsewhere in the sentence
        ("Where is Virginia?", "Virginia lies south of West Point."),
        # a word that only ends in a prefix is no prefix
        ("Where is York?", "Renew York's charter."),
    ],
)
def test_other_sentences_are_not_flagged(question: str, sentence: str) -> None:
    assert not names_another_place(question, sentence)


def test_the_other_place_may_be_the_answer_itself() -> None:
    question = "Which city blocks Charleston for expanding up the peninsula?"
    sentence = "North Charleston blocks any expansion up the peninsula."
    answer = (0, len("North Charleston"))
    assert not names_another_place(question, sentence, answer)
    # an answer elsewhere in that sentence is read about North Charleston
    assert names_another_place(question, sentence, (sentence.index("any"), len(sentence) - 1))


WARSAW = (
    "In 1806 the city became the official capital of the Grand Duchy of Warsaw, a puppet state "
    "of the First French Empire."
)


@pytest.mark.parametrize(
    ("question", "sentence", "answer", "flagged"),
    [
        # the span fills the question's "capital of ___" with another name
        ("What is the capital of France?", WARSAW, "Grand Duchy of Warsaw", True),
        (
            "Who is the president of Poland?",
            "He was the president of Lithuania.",
            "Lithuania",
            True,
        ),
        # the span is the capital, or holds the question's name
        ("What is the capital of France?", "Paris is the capital of France.", "Paris", False),
        (
            "What was the capital of the Grand Duchy?",
            WARSAW,
            "Grand Duchy of Warsaw",
            False,
        ),
        # a value, not a name: "a GDP of $390 billion"
        ("What is the GDP of Mexico City?", "It had a GDP of $390 billion.", "$390 billion", False),
        ("What was the price of the MacBook Air?", "A base price of US$ 999.", "US$ 999", False),
        # two function words say nothing of the slot
        ("Who was in the Beatles?", "He was in the Rolling Stones.", "Rolling Stones", False),
        # asked for a peer of the name, or a place inside it
        (
            "Along with the Late Middle Ages, what are the other periods?",
            "It is one of three periods, along with the Early Middle Ages.",
            "Early Middle Ages",
            False,
        ),
        (
            "Where were air bases built in Montana?",
            "Air bases were built in Great Falls.",
            "Great Falls",
            False,
        ),
    ],
)
def test_a_name_standing_in_the_questions_slot_is_flagged(
    question: str, sentence: str, answer: str, flagged: bool
) -> None:
    start = sentence.index(answer)
    assert takes_the_names_place(question, sentence, (start, start + len(answer))) is flagged


def _at(sentence: str, answer: str) -> tuple[int, int]:
    start = sentence.index(answer)
    return start, start + len(answer)


def test_the_owner_of_what_is_asked_is_flagged() -> None:
    sentence = "Loudoun planned an attack on New France’s capital, Quebec."
    assert owns_what_is_asked(
        "What is the capital of France?", sentence, _at(sentence, "New France")
    )
    # the thing itself answers; another thing of the owner says nothing of it
    assert not owns_what_is_asked(
        "What is the capital of France?", sentence, _at(sentence, "Quebec")
    )
    assert not owns_what_is_asked(
        "What is the largest port of France?", sentence, _at(sentence, "New France")
    )


@pytest.mark.parametrize(
    ("question", "sentence", "answer"),
    [
        # a question asking for the owner names no part of it
        (
            "Who led the Army of the North?",
            "General Faidherbe's Army of the North held.",
            "General Faidherbe",
        ),
        ("Who wrote Ride of the Valkyries?", "Wagner's Ride of the Valkyries played.", "Wagner"),
        # the name inside the answer, but no possessive thing after it
        (
            "What city is the capital of the Territory of Delhi?",
            "New Delhi is its capital.",
            "New Delhi",
        ),
    ],
)
def test_answers_that_own_nothing_asked_are_not_flagged(
    question: str, sentence: str, answer: str
) -> None:
    assert not owns_what_is_asked(question, sentence, _at(sentence, answer))
