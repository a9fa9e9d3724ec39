"""Follow-up questions: the one engine function that resolves a conversation's history."""

from __future__ import annotations

import pytest

from qa.engine import MAX_HISTORY, QuestionError

ARRESTED = "How many people has Pakistan arrested?"
FOREIGNERS = "How many of them were foreigners?"


def test_a_follow_up_is_answered_from_the_conversation(demo_engine) -> None:  # noqa: ANN001
    alone = demo_engine.ask(FOREIGNERS)
    assert not any("25" in a.text for a in alone.answers)  # "them" means nothing on its own
    result = demo_engine.ask(FOREIGNERS, history=[ARRESTED])
    assert result.found and "25" in result.answers[0].text
    article = demo_engine.get_article(result.answers[0].article.id)
    assert article.text[result.answers[0].start : result.answers[0].end] == result.answers[0].text


def test_the_context_is_the_newest_questions_back_to_one_that_stands_alone(demo_engine) -> None:  # noqa: ANN001
    resolve = demo_engine.follow_up_context
    assert resolve([]) is None
    assert resolve(["", "  "]) is None
    assert resolve(["Where was Chopin born?", ARRESTED]) == ARRESTED
    # A follow-up in the history brings the question it followed.
    assert resolve(["Where was Chopin born?", ARRESTED, FOREIGNERS]) == f"{ARRESTED} {FOREIGNERS}"
    # Three at most, however vague the newest are.
    vague = ["Why?", "And then?", "How many?", "Where?"]
    assert resolve([ARRESTED, *vague]) == "And then? How many? Where?"


def test_history_is_limited(demo_engine) -> None:  # noqa: ANN001
    with pytest.raises(QuestionError, match=f"at most {MAX_HISTORY}"):
        demo_engine.ask(FOREIGNERS, history=[ARRESTED] * (MAX_HISTORY + 1))
    with pytest.raises(QuestionError, match="a question in history is 5000 characters"):
        demo_engine.ask(FOREIGNERS, history=["x" * 5000])
