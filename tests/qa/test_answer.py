from __future__ import annotations

from qa.answer import quote_bounds
from qa.read.base import Span

TEXT = "The bridge opened in 1932. It cost £4 million. Its designer was J. Bradfield. Rain fell."


def _span(text: str, score: float) -> Span:
    start = TEXT.index(text)
    return Span(0, start, start + len(text), score, 0.0)


def test_the_quote_is_the_answer_sentence_without_evidence() -> None:
    answer = _span("£4 million", 0.9)
    start, end = quote_bounds(TEXT, answer.start, answer.end)
    assert TEXT[start:end] == "It cost £4 million."


def test_a_neighbour_the_reader_weighs_enough_joins_the_quote() -> None:
    answer, runner_up = _span("£4 million", 0.6), _span("J. Bradfield", 0.2)
    evidence = [answer, runner_up, _span("1932", 0.01)]
    start, end = quote_bounds(TEXT, answer.start, answer.end, evidence, neighbour_share=0.1)
    # The next sentence holds a third of the answer sentence's mass; the one before, 1/60.
    assert TEXT[start:end] == "It cost £4 million. Its designer was J. Bradfield."
    start, end = quote_bounds(TEXT, answer.start, answer.end, evidence, neighbour_share=0.5)
    assert TEXT[start:end] == "It cost £4 million."


def test_neighbours_on_both_sides_and_text_edges() -> None:
    first, last = _span("1932", 0.5), _span("Rain", 0.5)
    start, end = quote_bounds(TEXT, first.start, first.end, [first, _span("It cost", 0.3)], 0.1)
    assert TEXT[start:end] == "The bridge opened in 1932. It cost £4 million."
    start, end = quote_bounds(TEXT, last.start, last.end, [last, _span("Bradfield", 0.3)], 0.1)
    assert TEXT[start:end] == "Its designer was J. Bradfield. Rain fell."
    middle = _span("Bradfield", 0.4)
    evidence = [middle, _span("£4", 0.2), _span("Rain", 0.2)]
    start, end = quote_bounds(TEXT, middle.start, middle.end, evidence, 0.1)
    assert TEXT[start:end] == "It cost £4 million. Its designer was J. Bradfield. Rain fell."


def test_a_short_quote_takes_the_neighbour_the_reader_weighs_more() -> None:
    answer = _span("£4 million", 0.9)
    # "It cost £4 million." has 4 words: the next sentence joins on a tie (no evidence) ...
    start, end = quote_bounds(TEXT, answer.start, answer.end, min_words=6)
    assert TEXT[start:end] == "It cost £4 million. Its designer was J. Bradfield."
    # ... the previous one when the reader weighs it more; long enough quotes stay as they are.
    evidence = [answer, _span("1932", 0.05)]
    start, end = quote_bounds(TEXT, answer.start, answer.end, evidence, None, min_words=6)
    assert TEXT[start:end] == "The bridge opened in 1932. It cost £4 million."
    start, end = quote_bounds(TEXT, answer.start, answer.end, evidence, None, min_words=4)
    assert TEXT[start:end] == "It cost £4 million."


def test_the_quote_stays_inside_its_paragraph() -> None:
    text = "Heading of the page\n\nThe bridge opened in 1932. It cost £4 million.\n\nRain fell."
    answer = Span(0, text.index("1932"), text.index("1932") + 4, 0.5, 0.0)
    others = [
        answer,
        Span(0, 0, 7, 0.5, 0.0),
        Span(0, text.index("Rain"), text.index("Rain") + 4, 0.5, 0.0),
    ]
    start, end = quote_bounds(text, answer.start, answer.end, others, 0.1, min_words=50)
    assert text[start:end] == "The bridge opened in 1932. It cost £4 million."
