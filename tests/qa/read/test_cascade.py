"""The read cascade: a window of the best passage, then all of it, then the next passages,
each step only when the reader doubts the last; spans always offsets into what was read."""

from __future__ import annotations

from core.text.sentences import split_sentences
from indexer.split import approx_token_count
from qa.read.base import Span
from qa.read.cascade import ReadCascade
from qa.read.heuristic import HeuristicReader
from qa.retrieve import Hit

BEST = (
    "The zoo opened in 1911 on the edge of the city. Its first keepers came from Hamburg. "
    "The penguin house holds forty-two birds. Keepers feed the penguins twice a day. "
    "A new aviary opened in 2019 beside the lake. It cost twelve million euros."
)
NEXT = "The aquarium next door holds three hundred fish. It opened in 1960."
TITLES = {"zoo": "City zoo counts its penguins", "aquarium": "Aquarium news"}
QUESTION = "How many birds does the penguin house hold?"


class _Counting:
    """The heuristic reader, noting every text it is given."""

    name = "counting"
    quote_neighbour_share = None
    read_more_below = 0.4

    def __init__(self) -> None:
        self.reader = HeuristicReader()
        self.texts: list[str] = []

    def read(self, question: str, texts: list[str], top_n: int = 5) -> list[Span]:
        self.texts.extend(texts)
        return self.reader.read(question, texts, top_n)


def _hit(article_id: str, text: str, focus: tuple[int, int] | None) -> Hit:
    return Hit(
        rowid=1,
        article_id=article_id,
        start=0,
        end=len(text),
        text=text,
        score=1.0,
        dense_score=None,
        dense_rank=None,
        sparse_rank=None,
        focus=focus,
    )


def _cascade(reader: _Counting, **rules: float) -> ReadCascade:
    settings = {"window_tokens": 24, "more_below": 0.0, "more_no_answer": 1.0, **rules}
    return ReadCascade(reader, approx_token_count, **settings)  # type: ignore[arg-type]


def _focus() -> tuple[int, int]:
    start = BEST.index("The penguin house")
    return start, BEST.index("a day.") + len("a day.")


def test_a_sure_window_is_all_that_is_read() -> None:
    reader = _Counting()
    cascade = _cascade(reader)
    best, after = _hit("zoo", BEST, _focus()), _hit("aquarium", NEXT, None)
    start, end = cascade.focus_window(best)
    sentences = split_sentences(BEST)
    assert start in {s.start for s in sentences} and end in {s.end for s in sentences}
    assert start <= _focus()[0] and _focus()[1] <= end and (start, end) != (0, len(BEST))
    read, spans = cascade.read(QUESTION, [best, after], TITLES)
    assert read == [best]
    assert reader.texts == [f"{TITLES['zoo']}\n\n{BEST[start:end]}"]  # the title, then the window
    in_text = [s for s in spans if s.field == "text"]
    assert in_text and all(start <= s.start < s.end <= end for s in in_text)
    assert BEST[spans[0].start : spans[0].end] == "forty-two"


def test_doubt_reads_the_whole_passage_then_the_next_ones() -> None:
    reader = _Counting()
    cascade = _cascade(reader, more_below=1.0)  # never sure: everything, whole, at once
    best, after = _hit("zoo", BEST, _focus()), _hit("aquarium", NEXT, None)
    read, spans = cascade.read(QUESTION, [best, after], TITLES)
    assert read == [best, after]
    assert reader.texts == [f"{TITLES['zoo']}\n\n{BEST}", f"{TITLES['aquarium']}\n\n{NEXT}"]
    for span in spans:  # offsets into the passage read, or into its article's title
        hit = read[span.passage_index]
        field = hit.text if span.field == "text" else TITLES[hit.article_id]
        assert 0 <= span.start < span.end <= len(field) and field[span.start : span.end].strip()
    assert [(s.score, s.logit) for s in spans] == sorted(
        ((s.score, s.logit) for s in spans), key=lambda p: (-p[0], -p[1])
    )

    reader.texts.clear()
    doubting = _cascade(reader, more_no_answer=0.0)  # the window, then whole, then the rest
    read, _ = doubting.read(QUESTION, [best, after], TITLES)
    assert read == [best, after]
    start, end = doubting.focus_window(best)
    assert reader.texts == [
        f"{TITLES['zoo']}\n\n{BEST[start:end]}",
        f"{TITLES['zoo']}\n\n{BEST}",
        f"{TITLES['aquarium']}\n\n{NEXT}",
    ]


def test_an_answer_in_the_title_is_offsets_into_the_title() -> None:
    reader = _Counting()
    cascade = _cascade(reader, window_tokens=0)
    title = {"zoo": "Zoo opens aviary  in 2019"}  # the stored title's double space is kept
    question = "When did the zoo open its aviary?"
    _, spans = cascade.read(question, [_hit("zoo", NEXT, None)], title)
    in_title = [s for s in spans if s.field == "title"]
    assert in_title and title["zoo"][in_title[0].start : in_title[0].end] == "2019"


def test_no_passages_read_nothing() -> None:
    reader = _Counting()
    assert _cascade(reader).read(QUESTION, [], TITLES) == ([], [])
    assert reader.texts == []
