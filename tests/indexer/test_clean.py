from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from indexer.clean import clean_text, repair_text, title_from_url

EXAMPLES = Path(__file__).resolve().parents[2] / "qa" / "demo_articles"


def test_fixes_mojibake() -> None:
    assert clean_text("CafÃ© au lait, Â£5") == "Café au lait, £5"


def test_keeps_curly_quotes_and_ligatures() -> None:
    text = "“Quoted” — it’s the ﬁnal ＡＢＣ"
    assert clean_text(text) == text


def test_normalises_newlines_and_blank_runs() -> None:
    raw = "  First\tline  with   gaps.  \r\nSame paragraph.\r\r\r\rSecond.\n\n\n\n\nThird.  \n"
    assert clean_text(raw) == "First line with gaps.\nSame paragraph.\n\nSecond.\n\nThird."


def test_removes_control_characters_but_keeps_newlines() -> None:
    assert clean_text("a\x00b\x07c\x1bd\ne\x7ff") == "abcd\nef"
    assert clean_text("page one\fpage two") == "page one\npage two"


def test_blank_only_lines_become_paragraph_breaks() -> None:
    assert clean_text("One.\n   \n\t\nTwo.") == "One.\n\nTwo."


def test_drops_copyright_caption_paragraphs() -> None:
    raw = "Lead.\n\nÂ© REUTERS/Fayaz Aziz/Files Pakistan army spokesman speaks\n\nBody."
    assert clean_text(raw) == "Lead.\n\nBody."


def test_keeps_copyright_sign_inside_a_paragraph() -> None:
    assert clean_text("The logo is © 2020 ACME.") == "The logo is © 2020 ACME."


def test_empty_and_whitespace() -> None:
    assert clean_text("") == ""
    assert clean_text(" \n\t\r\n ") == ""


def test_repair_text_does_not_reflow() -> None:
    text = "keeps  double spaces \n\n\n and  blank lines "
    assert repair_text(text) == text
    assert repair_text("a\r\nb\x00c Â©") == "a\nbc ©"


def test_repair_text_leaves_dev_articles_byte_identical() -> None:
    lines = (EXAMPLES / "squad-dev.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    assert len(texts) == 12
    for text in texts:
        assert repair_text(text) == text


@pytest.mark.slow
@given(st.text())
@settings(max_examples=1000)
@example("\x9d\u00c2\x80")  # a control character between the halves of a mojibake "€"
@example("\xa0\u00d7\u00a4")  # a space before a mojibake "פ"
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once
    assert "\n\n\n" not in once
    assert once == once.strip()


@pytest.mark.parametrize(
    ("url", "title"),
    [
        (
            "http://www.msn.com/en-in/news/world/"
            "pakistan-says-it-foiled-islamic-state-expansion-into-country/ar-AAimxWF",
            "Pakistan says it foiled islamic state expansion into country",
        ),
        ("https://example.com/2024/03/harbour-bridge-reopens.html", "Harbour bridge reopens"),
        (
            "https://example.com/news/harbour_bridge_reopens_again-1234567",
            "Harbour bridge reopens again",
        ),
        ("https://example.com/a/b/c-d-e/f-g-h-i/", "F g h i"),
        ("https://example.com/caf%C3%A9-opens-today", "Café opens today"),
        ("https://example.com/ar-AAimxWF", None),
        ("https://example.com/", None),
        ("not a url", None),
    ],
)
def test_title_from_url(url: str, title: str | None) -> None:
    assert title_from_url(url) == title
