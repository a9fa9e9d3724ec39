"""Words and content words of a text."""

from __future__ import annotations

import pytest

from core.text.words import content_words, normalize_answer, words


def test_content_words_drop_stopwords_and_repeats() -> None:
    assert content_words("What is the capital of Poland?") == ["capital", "poland"]
    assert content_words("the of and") == []
    assert content_words("Poland, POLAND and poland") == ["poland"]


def test_words_are_nfkc_lower_cased_with_repeats() -> None:
    # A decomposed accent and a full-width digit read as the composed / ASCII forms.
    assert words("Cafe\u0301 ２ the THE") == ["café", "2", "the", "the"]


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("The Atlantic Ocean!", "atlantic ocean"),
        ("  an   apple, a pear ", "apple pear"),
        ("2,140 km", "2140 km"),
        ("Theatre", "theatre"),  # only whole-word articles go
        ("“Señor” café", "“señor” café"),  # SQuAD strips ASCII punctuation only
    ],
)
def test_normalisation_follows_the_official_squad_script(raw: str, normalised: str) -> None:
    assert normalize_answer(raw) == normalised
