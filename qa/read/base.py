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


class Reader(Protocol):
    def read(self, question: str, texts: list[str], top_n: int = 5) -> list[Span]: ...
