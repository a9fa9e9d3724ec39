"""Block Kit formatting: bold span at the right offsets after escaping, links, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.slack.blocks import (
    NOT_FOUND,
    ZWSP,
    answer_blocks,
    escape,
    feedback_value,
    quote_mrkdwn,
    source_link,
)
from qa.types import Answer, ArticleRef, AskResult

REPO_ROOT = Path(__file__).resolve().parents[2]

TEXT = "Intro. Q&A <live>: AT&T paid $5 > $3 to <b>Bob</b> & co. Outro."


def answer(span: str, quote: str = "Q&A <live>: AT&T paid $5 > $3 to <b>Bob</b> & co.", **kw):
    quote_start = TEXT.index(quote)
    start = TEXT.index(span, quote_start)
    article = kw.pop(
        "article", ArticleRef(id="a1", title="Deals & <Steals>", url="https://x.org/a?b=1&c=2")
    )
    return Answer(
        text=span,
        start=start,
        end=start + len(span),
        quote=quote,
        quote_start=quote_start,
        quote_end=quote_start + len(quote),
        score=kw.pop("score", 0.8123),
        article=article,
    )


def test_escape_only_control_characters():
    assert escape("a & b < c > d *e* _f_") == "a &amp; b &lt; c &gt; d *e* _f_"


def test_bold_span_lands_on_the_answer_after_escaping():
    text = quote_mrkdwn(answer("$5 > $3"))
    assert text == (
        "Q&amp;A &lt;live&gt;: AT&amp;T paid *$5 &gt; $3* to &lt;b&gt;Bob&lt;/b&gt; &amp; co."
    )


def test_bold_inside_a_word_uses_zero_width_spaces():
    def bold(quote: str, span: str) -> str:
        start = quote.index(span)
        ref = ArticleRef(id="a", title="t")
        a = Answer(text=span, start=start, end=start + len(span), quote=quote, quote_start=0,
                   quote_end=len(quote), score=0.5, article=ref)  # fmt: skip
        return quote_mrkdwn(a)

    assert bold("about 25kg, he said", "25") == f"about *25*{ZWSP}kg, he said"
    assert bold("Mr.Bajwa said", "Bajwa") == "Mr.*Bajwa* said"
    assert bold("x309 y", "309") == f"x{ZWSP}*309* y"
    assert bold("it was 3*4 or so", "3*4") == "it was 3*4 or so"  # no bold, still verbatim


def test_long_quote_is_clipped_around_the_answer():
    long_text = "word " * 2000 + "ANSWER" + " word" * 2000
    a = Answer(
        text="ANSWER",
        start=10_000,
        end=10_006,
        quote=long_text,
        quote_start=0,
        quote_end=len(long_text),
        score=0.5,
        article=ArticleRef(id="a", title="t"),
    )
    text = quote_mrkdwn(a, limit=300)
    assert len(text) <= 300
    assert "*ANSWER*" in text and text.startswith("…") and text.endswith("…")


def test_source_link_escapes_title_and_url():
    link = source_link(answer("$5 > $3"))
    assert link == "<https://x.org/a?b=1&c=2|Deals &amp; &lt;Steals&gt;>"
    odd = ArticleRef(id="a", title="T", url="https://x.org/a|b c>")
    assert source_link(answer("AT&T", article=odd)) == "<https://x.org/a%7Cb%20c%3E|T>"
    no_url = ArticleRef(id="notes/a", title="Notes <1>", url=None)
    assert source_link(answer("AT&T", article=no_url)) == "Notes &lt;1&gt;"


def test_answer_blocks_with_more_sources():
    answers = [answer("$5 > $3"), answer("Bob", score=0.41), answer("AT&T", score=0.3)]
    answers.append(answer("co", score=0.2))
    fallback, blocks = answer_blocks(
        AskResult(question="q", found=True, took_ms=1, answers=answers)
    )
    assert [b["type"] for b in blocks] == ["section", "context", "context", "actions"]
    assert blocks[0]["text"]["text"].startswith("> Q&amp;A")
    assert blocks[1]["elements"][0]["text"].endswith("· score 0.81")
    more = blocks[2]["elements"]
    assert len(more) == 3  # the label and two more sources, not three
    assert "*Bob*" in more[1]["text"] and "score 0.41" in more[1]["text"]
    assert fallback.startswith("$5 &gt; $3: “Q&amp;A")


def test_not_found_and_asked_by():
    result = AskResult(question="who <won>?", found=False, took_ms=1)
    fallback, blocks = answer_blocks(result, asked_by="U1")
    assert fallback == NOT_FOUND
    assert blocks[0]["text"]["text"] == "<@U1> asked: *who &lt;won&gt;?*"
    assert blocks[1]["text"]["text"] == NOT_FOUND


def test_manifest_asks_for_what_the_bot_uses():
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((REPO_ROOT / "slack" / "manifest.yml").read_text())
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "message.channels"} <= events
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "im:history"} <= scopes
    assert manifest["features"]["slash_commands"][0]["command"] == "/ask"


def test_reply_shows_the_publish_date_and_a_newer_article_that_differs():
    older = answer("$5", article=ArticleRef(id="a1", title="Old", published="2016-09-08"))
    newer = answer("$3", article=ArticleRef(id="a2", title="New", published="2017-03-01T10:00:00Z"))
    newer.newer_than = ["a1"]
    result = AskResult(question="How much?", found=True, took_ms=1.0, answers=[older, newer])
    _, blocks = answer_blocks(result)
    texts = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    assert texts[0].startswith("Old · published 2016-09-08 · score")
    assert (
        texts[1]
        == ":calendar: *A newer article answers differently:* “$3” in New · published 2017-03-01"
    )
    assert "New · published 2017-03-01 · score" in texts[-1]
    # Undated answers say nothing about dates.
    _, plain = answer_blocks(
        AskResult(question="q", found=True, took_ms=1.0, answers=[answer("$5")])
    )
    assert "published" not in str(plain) and "newer" not in str(plain)


def test_source_link_opens_the_quote_when_the_answer_has_a_deep_link():
    deep = answer("$5")
    deep.link = "https://x.org/a?b=1&c=2#:~:text=paid%20%245%2C%20he%20said"
    assert source_link(deep) == (
        "<https://x.org/a?b=1&c=2#:~:text=paid%20%245%2C%20he%20said|Deals &amp; &lt;Steals&gt;>"
    )


def test_feedback_buttons_carry_the_question_and_the_answer_place_under_slack_limits():
    best = answer("$5")
    _, blocks = answer_blocks(
        AskResult(question="How much?", found=True, took_ms=1, answers=[best])
    )
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    values = {json.loads(e["value"])["q"] for e in actions["elements"]}
    assert values == {"How much?"}
    where = json.loads(actions["elements"][0]["value"])
    assert (where["a"], where["s"], where["e"], where["f"]) == ("a1", best.start, best.end, "text")
    for question in ("é" * 1990, '"' * 1990, "x" * 5000):
        value = feedback_value(question, best)
        assert len(value) <= 2000 and question.startswith(json.loads(value)["q"])
