"""Both readers return verbatim spans on tricky text: quotes, unicode, numbers with commas,
answers at the very start or end of a passage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa.read.base import Reader

MODEL_DIR = Path(__file__).resolve().parents[2] / "qa" / "models" / "reader"

# (question, passage, the answer the trained reader must find)
CASES = [
    (
        "When was the album “Blue Lines” released?",
        "Massive Attack’s debut album, “Blue Lines”, was released on 8 April 1991 by Wild Bunch.",
        "8 April 1991",
    ),
    (
        "How many people does the stadium hold?",
        "Opened in 1923, the stadium holds 81,044 people and cost $1,250,000 to build.",
        "81,044",
    ),
    (
        "Who built the Großmünster?",
        "The Großmünster in Zürich was built by Charlemagne\u00a0— according to legend — in 1100.",
        "Charlemagne",
    ),
    (
        "Who designed the tower?",
        "The tower, a landmark of Paris, was designed by Gustave Eiffel",
        "Gustave Eiffel",
    ),
    (
        "How many workers went on strike?",
        "12,500 workers went on strike in Łódź after the wage cut of 1892.",
        "12,500",
    ),
    (
        "What is the name of the café?",
        # decomposed accent (e + U+0301), a tab and a zero-width joiner inside the text
        "The cafe\u0301 is called\tLe Petit Zinc\u200d, and it opened in 1902 🎉 to great acclaim.",
        "Le Petit Zinc",
    ),
]


@pytest.fixture(scope="module")
def trained() -> Reader:
    if not (MODEL_DIR / "model.safetensors").exists():
        pytest.fail(f"the trained reader is missing: {MODEL_DIR}")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from qa.read.trained import TrainedReader

    return TrainedReader(MODEL_DIR, threads=2)


@pytest.fixture(scope="module")
def heuristic() -> Reader:
    from qa.read.heuristic import HeuristicReader

    return HeuristicReader()


@pytest.fixture(scope="module", params=["trained", "heuristic"])
def reader(request: pytest.FixtureRequest) -> Reader:
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize(("question", "passage", "gold"), CASES)
def test_spans_are_verbatim_slices(reader: Reader, question: str, passage: str, gold: str) -> None:
    texts = ["An unrelated opening passage about rivers.", passage]
    spans = reader.read(question, texts, top_n=5)
    assert spans
    for span in spans:
        text = texts[span.passage_index]
        assert 0 <= span.start < span.end <= len(text)
        answer = text[span.start : span.end]
        assert answer == answer.strip(), f"span has edge whitespace: {answer!r}"
        assert 0.0 <= span.score <= 1.0


@pytest.mark.parametrize(("question", "passage", "gold"), CASES)
def test_trained_reader_finds_the_answer_exactly(
    trained: Reader, question: str, passage: str, gold: str
) -> None:
    best = trained.read(question, [passage], top_n=1)[0]
    assert passage[best.start : best.end] == gold


def test_answers_at_both_edges_of_a_passage(trained: Reader) -> None:
    first = "1,440 metres is the height of the dam wall, the tallest in Europe."
    last = "The tallest dam wall in Europe has a height of 1,440 metres"
    for text, expected in ((first, (0, 12)), (last, (len(last) - 12, len(last)))):
        best = trained.read("What is the height of the dam wall?", [text], top_n=1)[0]
        assert (best.start, best.end) == expected, text[best.start : best.end]
