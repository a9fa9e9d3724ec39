"""Deep links: the text fragment is percent-encoded per the WICG spec, exact for a short
quote, ``textStart,textEnd`` for a long one or one over several paragraphs."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from qa.links import EDGE_WORDS, EXACT_MAX_CHARS, encode_term, text_fragment_link

URL = "https://news.example.org/2016/09/pakistan"


def terms(link: str) -> list[str]:
    directive = link.split("#:~:text=", 1)[1]
    return [unquote(t) for t in directive.split(",")]


@pytest.mark.parametrize(
    ("term", "encoded"),
    [
        ("pro-government", "pro%2Dgovernment"),  # "-" marks a prefix or suffix
        ("AT&T", "AT%26T"),  # "&" separates directives
        ("25, he said", "25%2C%20he%20said"),  # "," separates the terms
        ("100% #1 a/b?", "100%25%20%231%20a%2Fb%3F"),
        ("Skłodowska-Curie 🎡", "Sk%C5%82odowska%2DCurie%20%F0%9F%8E%A1"),
        ("a_b.c~d", "a_b.c~d"),  # unreserved characters stay
    ],
)
def test_terms_are_percent_encoded_with_the_directive_syntax_characters(
    term: str, encoded: str
) -> None:
    assert encode_term(term) == encoded
    assert unquote(encoded) == term


def test_a_short_quote_is_linked_whole() -> None:
    quote = "About 25 were foreigners, including Afghans and some Syrians, he said."
    assert len(quote) <= EXACT_MAX_CHARS
    link = text_fragment_link(URL, quote)
    assert link.startswith(URL + "#:~:text=")
    assert terms(link) == [quote]


def test_a_long_quote_is_linked_by_its_first_and_last_words() -> None:
    quote = (
        "Pakistani authorities have so far arrested 309 people associated with Islamic "
        "State (IS) on its territory, he said. They were involved in attacks on media."
    )
    start, end = terms(text_fragment_link(URL, quote))
    assert start == " ".join(quote.split()[:EDGE_WORDS]) == "Pakistani authorities have so"
    assert end == " ".join(quote.split()[-EDGE_WORDS:]) == "in attacks on media."


def test_a_quote_over_paragraphs_never_puts_a_term_across_them() -> None:
    quote = "It ended well.\n\nThe   army   said\nnothing more about it, officials added."
    start, end = terms(text_fragment_link(URL, quote))
    assert (start, end) == ("It ended well.", "about it, officials added.")
    assert "\n" not in start + end


def test_the_url_keeps_its_fragment_and_loses_an_old_directive() -> None:
    assert text_fragment_link(URL + "#comments", "He said so.") == (
        URL + "#comments:~:text=He%20said%20so."
    )
    assert text_fragment_link(URL + "#:~:text=old", "New.") == URL + "#:~:text=New."


@pytest.mark.parametrize("url", [None, "", "javascript:alert(1)", "ftp://x.org/a", "a/b.txt"])
def test_only_web_urls_get_a_link(url: str | None) -> None:
    assert text_fragment_link(url, "quote") is None


def test_the_engine_puts_a_link_on_every_answer_with_a_web_url(demo_engine) -> None:  # noqa: ANN001
    result = demo_engine.ask("How many people has Pakistan arrested?", k=3)
    assert result.found
    for answer in result.answers:
        assert answer.link == text_fragment_link(answer.article.url, answer.quote)
        assert answer.link.startswith(answer.article.url + "#:~:text=")
