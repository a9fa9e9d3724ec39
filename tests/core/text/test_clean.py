from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.text.clean import (
    boilerplate_spans,
    clean_text,
    mask_boilerplate,
    repair_text,
    title_from_url,
)
from tests.conftest import REPO

EXAMPLES = REPO / "qa" / "demo_articles"


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


# News furniture in the shapes of agency and network copy (written for these tests).
REUTERS = (
    "LONDON, March 3 (Reuters) - Britain's economy grew 0.2% in the fourth quarter, official "
    "data showed on Friday.\n\n"
    "Reporting by Jane Roe; Editing by John Doe\n\n"
    "Our Standards: The Thomson Reuters Trust Principles."
)
AP = (
    "NEW YORK (AP) — Stocks fell on Monday as oil prices climbed.\n\n"
    "Traders watch prices on the floor of the exchange. (AP Photo/Seth Wenig)\n\n"
    "Associated Press writer Mary Major contributed to this report."
)
CNN = (
    "By Jane Doe, CNN\n\n"
    "Updated 3:14 PM EDT, Thu May 4, 2023\n\n"
    "New York CNN Business — The sandwich chain is launching a new menu next week.\n\n"
    "Sign up for CNN's Five Things newsletter to get the news in your inbox.\n\n"
    "Related: How the sandwich wars began\nWhy fast food prices keep rising\n"
    "The chains that closed the most stores"
)
BBC = (
    "Image source, Getty Images\n\n"
    "Image caption, Firefighters at the scene on Tuesday\n\n"
    "KYIV, Ukraine — Russian forces attacked the city overnight, officials said."
)


def _furniture(text: str) -> list[str]:
    return [text[s:e] for s, e in boilerplate_spans(text)]


def test_agency_and_network_furniture_is_found() -> None:
    assert _furniture(REUTERS) == [
        "LONDON, March 3 (Reuters) - ",
        "Reporting by Jane Roe; Editing by John Doe",
        "Our Standards: The Thomson Reuters Trust Principles.",
    ]
    assert _furniture(AP) == [
        "NEW YORK (AP) — ",
        "Traders watch prices on the floor of the exchange. (AP Photo/Seth Wenig)",
        "Associated Press writer Mary Major contributed to this report.",
    ]
    assert _furniture(CNN) == [
        "By Jane Doe, CNN",
        "Updated 3:14 PM EDT, Thu May 4, 2023",
        "New York CNN Business — ",
        "Sign up for CNN's Five Things newsletter to get the news in your inbox.",
        "Related: How the sandwich wars began",
        "Why fast food prices keep rising",
        "The chains that closed the most stores",
    ]
    assert _furniture(BBC) == [
        "Image source, Getty Images",
        "Image caption, Firefighters at the scene on Tuesday",
        "KYIV, Ukraine — ",
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Pakistani authorities have so far arrested 309 people, he said.",
        "US President Joe Biden — who spoke on Tuesday — said the talks would go on.",
        "Related to the merger, the company said it would cut 200 jobs next year.",
        "Share prices fell 3% on Monday as investors worried about interest rates.",
        "By the end of the year, the company had sold 2 million phones.",
        "May 24, 2008 was the day the plant closed.",
        "On Tuesday, September 1, 2015",
    ],
)
def test_prose_is_not_furniture(sentence: str) -> None:
    assert boilerplate_spans(sentence) == []


@pytest.mark.parametrize(
    "date",
    ["Tuesday, September 1, 2015", "May 24, 2008", "15 October 2007 14:02 GMT", "2015-09-01"],
)
def test_a_date_alone_on_its_line_is_furniture_and_the_headline_is_not(date: str) -> None:
    # Wikinews and many sites put the publication date under the headline.
    text = f"Boeing delays its new narrowbody\n\n{date}\n\nThe body starts here."
    assert _furniture(text) == [date]


def test_masking_keeps_every_offset() -> None:
    masked = mask_boilerplate(CNN)
    assert len(masked) == len(CNN)
    assert "CNN" not in masked and "Sign up" not in masked
    start = CNN.index("The sandwich chain")
    assert masked[start:].startswith("The sandwich chain is launching a new menu next week.")
