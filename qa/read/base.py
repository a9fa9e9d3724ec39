"""What every reader returns: verbatim character spans inside the texts it was given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Span:
    """An answer span: ``texts[passage_index][start:end]`` is the answer, verbatim."""

    passage_index: int  # which of the input texts
    start: int  # char offset inside that text
    end: int  # exclusive
    score: float  # reader confidence in [0, 1]
    logit: float  # raw start+end logit sum
    # The reader's probability that the span's window holds no answer at all (readers without
    # such an estimate leave 0).
    no_answer: float = 0.0
    # Set by the engine, which reads each passage after its article's title: "title" when the
    # span lies in the title (then ``start``/``end`` are offsets into the title).
    field: str = "text"


class Reader(Protocol):
    # Names the reader and how it runs (its calibration file is picked by this name).
    name: str
    # A sentence next to the answer's joins the quote when the reader's spans in it weigh at
    # least this share of the answer sentence's (None: quote the answer's sentence alone).
    quote_neighbour_share: float | None
    # The next passages are read when the best one's best span scores below this.
    read_more_below: float

    def read(self, question: str, texts: list[str], top_n: int = 5) -> list[Span]: ...
