"""The chat page's newsroom features in a headless Chromium against a real ``qa-serve``:
publish dates, follow-up questions, deep links to the quote and feedback."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
from playwright.sync_api import Page, expect

from tests.web.conftest import PageEvents
from tests.web.corpus import EMOJI_PUBLISHED, EMOJI_QUESTION, SEED_QUESTION
from tests.web.test_chat_page import ask

expect.set_options(timeout=30_000)


def test_the_publish_date_is_shown_with_the_source(page: Page, page_events: PageEvents) -> None:
    turn = ask(page, EMOJI_QUESTION)
    published = turn.locator(".answer-primary .source time")
    expect(published).to_have_attribute("datetime", EMOJI_PUBLISHED)
    expect(published).to_have_text("Aug 1, 2023")  # the browser's locale: en-US here
    # An article without a date shows none.
    seed = ask(page, SEED_QUESTION)
    expect(seed.locator(".answer-primary .source time")).to_have_count(0)
    assert page_events.errors == []


def test_a_follow_up_is_answered_from_the_conversation(page: Page, page_events: PageEvents) -> None:
    requests: list[dict] = []
    page.on(
        "request",
        lambda r: requests.append(r.post_data_json) if r.url.endswith("/api/ask") else None,
    )
    ask(page, "How many people has Pakistan arrested?")
    turn = ask(page, "How many of them were foreigners?")
    # The page's server reads with the heuristic reader: its span is "about 25".
    expect(turn.locator(".answer-primary blockquote mark")).to_have_text(re.compile(r"\b25$"))
    assert requests[-1]["history"] == ["How many people has Pakistan arrested?"]
    # After a reload the conversation, and so the history, is still there.
    page.reload()
    page.locator("html[data-ready=true]").wait_for(state="attached")
    ask(page, "Where were they from?")
    assert requests[-1]["history"] == [
        "How many people has Pakistan arrested?",
        "How many of them were foreigners?",
    ]
    assert page_events.errors == []


def test_feedback_buttons_and_comment_reach_the_server(
    page: Page, page_events: PageEvents, chat_server: str
) -> None:
    def stored() -> list[dict]:
        return httpx.get(chat_server + "/api/feedback", params={"limit": 500}).json()["items"]

    before = len(stored())
    turn = ask(page, SEED_QUESTION)
    best = turn.locator(".answer-primary")
    best.get_by_role("button", name="Not helpful").click()
    expect(best.locator(".feedback-note")).to_have_text("Thanks for your feedback.")
    expect(best.get_by_role("button", name="Not helpful")).to_have_attribute("aria-pressed", "true")
    best.get_by_label("What was wrong or right? (optional)").fill("It should say when.")
    best.get_by_role("button", name="Send comment").click()
    expect(best.locator(".feedback-note")).to_have_text("Thanks, your comment was sent.")
    expect(best.locator(".feedback-form")).to_be_hidden()
    records = stored()[before:]
    assert [(r["helpful"], r["comment"], r["channel"]) for r in records] == [
        (False, None, "web"),
        (False, "It should say when.", "web"),
    ]
    answer = records[0]
    article = httpx.get(
        chat_server + "/api/articles/" + quote(answer["article_id"], safe="")
    ).json()
    start = answer["start"]
    assert answer["question"] == SEED_QUESTION
    assert article["text"][start : start + len(answer["answer_text"])] == answer["answer_text"]
    assert page_events.errors == []
