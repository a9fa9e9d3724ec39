"""The chat page's newsroom features in a headless Chromium against a real ``qa-serve``:
publish dates, follow-up questions, deep links to the quote and feedback."""

from __future__ import annotations

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
