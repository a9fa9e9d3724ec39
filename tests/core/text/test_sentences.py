"""Sentence spans: trimmed, at their offsets, lines without end punctuation their own."""

from __future__ import annotations

import pytest

from core.text.sentences import split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith went home. He slept.", ["Dr. Smith went home.", "He slept."]),
        ("Title line\nBody sentence one. Two.", ["Title line", "Body sentence one.", "Two."]),
        ("  ", []),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    assert [text[s.start : s.end] for s in split_sentences(text)] == expected
