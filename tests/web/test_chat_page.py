"""End-to-end tests of the chat page: a headless Chromium against a real ``qa-serve``."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import PageEvents, open_page
from tests.web.corpus import (
    EMOJI_ANSWER,
    EMOJI_ID,
    EMOJI_QUESTION,
    EMOJI_TITLE,
    FILLER_COUNT,
    SEED_ID,
    SEED_QUESTION,
    SEED_URL,
    SHARED_QUESTION,
    XSS_ID,
    XSS_IMG,
    XSS_QUESTION,
    XSS_SCRIPT,
    XSS_TITLE,
)

pytestmark = pytest.mark.slow  # a real server and a headless Chromium

expect.set_options(timeout=30_000)

# Nothing in the small index answers this (checked against the API in the test).
ABSENT_QUESTION = "Which symphony did Beethoven compose for the glass harmonica?"
ARTICLES_TOTAL = FILLER_COUNT + 3


def ask(page: Page, question: str) -> object:
    """Type the question, press Enter, wait for the reply; returns the turn's locator."""
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")
    turn = page.locator(".turn").last
    expect(turn.locator(".bubble-question")).to_contain_text(question)
    expect(turn.locator(".bubble-reply[aria-busy]")).to_have_count(0)
    return turn


def test_page_sends_a_csp_that_forbids_inline_scripts(chat_server: str) -> None:
    response = httpx.get(chat_server + "/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src, csp
    assert "'self'" in script_src.group(1)
    assert "unsafe-inline" not in script_src.group(1) and "unsafe-eval" not in csp
    assert "unsafe-inline" not in re.search(r"style-src ([^;]*)", csp).group(1)
    scripts = re.findall(r"<script\b[^>]*>", response.text)
    assert scripts and all(" src=" in tag for tag in scripts)


def test_answer_is_highlighted_with_a_link_to_its_source(
    page: Page, page_events: PageEvents, artifacts
) -> None:  # noqa: ANN001
    turn = ask(page, SEED_QUESTION)
    best = turn.locator(".answer-primary")
    expect(best.locator("blockquote mark")).to_have_text("309")
    expect(best.locator("blockquote")).to_contain_text(
        "Pakistani authorities have so far arrested 309"
    )
    link = best.locator("a.article-title")
    # A deep link: the page opens scrolled to the quote (tests/web/test_chat_newsroom.py).
    expect(link).to_have_attribute("href", re.compile("^" + re.escape(SEED_URL + "#:~:text=")))
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    expect(link).to_contain_text("Pakistan says it foiled")

    # "show context": the paragraph from /api/articles/{id} (an id with a "/"), quote marked.
    toggle = best.locator(".context-toggle")
    expect(toggle).to_have_text("Show context")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_have_text("Hide context")
    context = best.locator(".context")
    # The answer's sentence has 18 words: the quote also shows the next one of its paragraph.
    expect(context.locator("mark.context-quote")).to_have_text(
        "Pakistani authorities have so far arrested 309 people associated with Islamic State"
        " (IS) on its territory, he said. They were involved in attacks on media and security"
        " personnel, and were planning attacks on government, diplomatic and civilian targets,"
        " he added."
    )
    expect(context.locator("mark.context-quote strong")).to_have_text("309")
    expect(context).to_contain_text("They were involved in attacks on media")

    page.screenshot(path=str(artifacts / "chat.png"))
    assert page_events.errors == []


def test_more_answers_fold_under_other_sources(page: Page) -> None:
    turn = ask(page, SHARED_QUESTION)
    answers = httpx.post(
        page.url.rstrip("/") + "/api/ask", json={"question": SHARED_QUESTION, "k": 3}
    ).json()["answers"]
    assert len(answers) > 1, "the corpus should give more than one answer to this question"
    assert len({a["article"]["id"] for a in answers}) == len(answers)
    others = turn.locator("details.others")
    expect(others.locator("summary")).to_have_text(re.compile(r"\d+ other sources?"))
    expect(others).not_to_have_attribute("open", "")
    expect(others.locator(".answer").first).to_be_hidden()
    others.locator("summary").click()
    expect(others.locator(".answer")).to_have_count(len(answers) - 1)
    expect(others.locator(".answer mark").first).to_have_text(answers[1]["text"])


def test_not_found_is_said_with_a_hint(page: Page, chat_server: str) -> None:
    api = httpx.post(chat_server + "/api/ask", json={"question": ABSENT_QUESTION, "k": 3}).json()
    assert api["found"] is False and api["answers"] == []
    turn = ask(page, ABSENT_QUESTION)
    reply = turn.locator(".bubble-reply")
    expect(reply).to_contain_text("No answer found in the articles")
    expect(reply).to_contain_text("Try other words")
    expect(reply.locator("mark")).to_have_count(0)


def test_conversation_survives_a_reload_and_can_be_cleared(page: Page) -> None:
    ask(page, SEED_QUESTION)
    ask(page, ABSENT_QUESTION)
    page.reload()
    page.locator("html[data-ready=true]").wait_for(state="attached")
    expect(page.locator(".turn")).to_have_count(2)
    expect(page.locator(".turn").first.locator(".answer-primary blockquote mark")).to_have_text(
        "309"
    )
    expect(page.locator(".turn").last).to_contain_text("No answer found")

    page.get_by_role("button", name="Clear chat").click()
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.get_by_role("heading", name="Ask about the articles")).to_be_visible()
    page.reload()
    page.locator("html[data-ready=true]").wait_for(state="attached")
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.get_by_role("button", name="Clear chat")).to_be_disabled()


def test_a_question_interrupted_by_a_reload_can_be_asked_again(page: Page) -> None:
    page.route("**/api/ask", lambda route: None)  # never answered
    page.get_by_label("Your question").fill(SEED_QUESTION)
    page.get_by_label("Your question").press("Enter")
    expect(page.locator(".turn .bubble-reply[aria-busy]")).to_have_count(1)
    # Reload while the ask is still held back, so the answer can never win the race.
    page.reload()
    page.locator("html[data-ready=true]").wait_for(state="attached")
    reply = page.locator(".turn .bubble-error")
    expect(reply).to_contain_text("reloaded before the answer arrived")
    page.unroute_all(behavior="ignoreErrors")
    reply.get_by_role("button", name="Try again").click()
    expect(page.locator(".turn .answer-primary blockquote mark")).to_have_text("309")


def test_keyboard_only(page: Page) -> None:
    box = page.get_by_label("Your question")
    for _ in range(10):
        page.keyboard.press("Tab")
        if box.evaluate("el => el === document.activeElement"):
            break
    expect(box).to_be_focused()

    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    expect(page.locator(".turn")).to_have_count(0)

    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(SEED_QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator(".turn")).to_have_count(1)
    expect(page.locator(".turn .bubble-reply[aria-busy]")).to_have_count(0)
    expect(page.locator(".turn .answer-primary blockquote mark")).to_have_text("309")
    expect(box).to_be_focused()
    expect(box).to_have_value("")

    # Back from the box into the answer: the controls are reachable and work with keys.
    toggle = page.locator(".answer-primary .context-toggle")
    for _ in range(10):
        page.keyboard.press("Shift+Tab")
        if toggle.evaluate("el => el === document.activeElement"):
            break
    expect(toggle).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".answer-primary mark.context-quote")).to_be_visible()

    # The articles panel opens and closes from the keyboard too.
    page.get_by_role("button", name=re.compile("^Articles")).focus()
    page.keyboard.press("Enter")
    search = page.get_by_label("Search titles and ids")
    expect(search).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#articles-dialog")).not_to_be_visible()


def test_new_answers_are_announced(page: Page) -> None:
    log = page.locator("#log")
    expect(log).to_have_attribute("aria-live", "polite")
    expect(log).to_have_attribute("role", "log")
    ask(page, SEED_QUESTION)
    expect(log.locator(".answer-primary")).to_have_count(1)


def test_xss_article_renders_inert(page: Page, page_events: PageEvents) -> None:
    turn = ask(page, XSS_QUESTION)
    quote = turn.locator(".answer-primary blockquote")
    expect(quote).to_contain_text(XSS_SCRIPT)
    expect(quote).to_contain_text(XSS_IMG)
    expect(quote.locator("mark")).to_have_text("2019")
    # The title is shown literally, and its javascript: URL is not made a link.
    title = turn.locator(".answer-primary .article-title")
    expect(title).to_have_text(XSS_TITLE)
    assert title.evaluate("el => el.tagName") == "SPAN"
    turn.get_by_role("button", name="Show context").click()
    expect(turn.locator("mark.context-quote")).to_contain_text(XSS_SCRIPT)

    # The same text in the article reader, opened from the articles panel.
    page.get_by_role("button", name=re.compile("^Articles")).click()
    page.get_by_label("Search titles and ids").fill("Kestrel")
    expect(page.locator("#articles-list li")).to_have_count(1)
    page.locator("#articles-list").get_by_role("button", name=XSS_TITLE).click()
    reader = page.locator("#reader-dialog")
    expect(reader.locator("h2")).to_have_text(XSS_TITLE)
    expect(reader.locator(".reader-text")).to_contain_text(XSS_SCRIPT)
    expect(reader.locator(".reader-text")).to_contain_text(XSS_IMG)

    page.wait_for_timeout(300)  # give an injected handler every chance to fire
    assert page.locator("img").count() == 0
    assert page.locator("body script").count() == 0
    assert page_events.dialogs == []
    assert page_events.errors == []


def test_emoji_do_not_shift_the_highlight(page: Page) -> None:
    """API offsets are code points; JS strings are UTF-16. The id also needs URL encoding."""
    turn = ask(page, EMOJI_QUESTION)
    expect(turn.locator(".answer-primary blockquote mark")).to_have_text(EMOJI_ANSWER)
    turn.get_by_role("button", name="Show context").click()
    expect(turn.locator("mark.context-quote strong")).to_have_text(EMOJI_ANSWER)
    # A quote under 20 words also shows the next sentence of its paragraph.
    expect(turn.locator("mark.context-quote")).to_have_text(
        "🎡🎠 The Harbor Fair welcomed 4,812 visitors 🎟️ on opening day, the organisers said."
        " Queues for the 🎢 coaster ran past the pier."
    )
    # The text before the quote in its paragraph is empty: the quote starts the paragraph.
    expect(turn.locator(".context-text")).to_have_text(
        re.compile(r"^🎡🎠 The Harbor Fair .* Queues for the 🎢 coaster ran past the pier\.$")
    )


def test_articles_panel_counts_pages_and_searches(page: Page) -> None:
    expect(page.locator("#article-count")).to_have_text(str(ARTICLES_TOTAL))
    page.get_by_role("button", name=re.compile("^Articles")).click()
    dialog = page.locator("#articles-dialog")
    expect(dialog.locator("#articles-total")).to_have_text(f"{ARTICLES_TOTAL} articles indexed")
    expect(dialog.locator("#articles-list li")).to_have_count(50)
    expect(dialog.locator("#articles-range")).to_have_text(f"1–50 of {ARTICLES_TOTAL}")
    expect(dialog.get_by_role("button", name="Previous")).to_be_disabled()
    dialog.get_by_role("button", name="Next").click()
    expect(dialog.locator("#articles-range")).to_have_text(
        f"51–{ARTICLES_TOTAL} of {ARTICLES_TOTAL}"
    )
    expect(dialog.locator("#articles-list li")).to_have_count(ARTICLES_TOTAL - 50)
    expect(dialog.get_by_role("button", name="Next")).to_be_disabled()

    dialog.get_by_label("Search titles and ids").fill("pakistan")
    expect(dialog.locator("#articles-list li")).to_have_count(1)
    expect(dialog.locator("#articles-total")).to_contain_text("1 matching")
    item = dialog.locator("#articles-list li")
    expect(item).to_contain_text(SEED_ID)
    source = item.get_by_role("link")
    expect(source).to_have_attribute("href", SEED_URL)
    expect(source).to_have_attribute("target", "_blank")

    dialog.get_by_label("Search titles and ids").fill("no such article anywhere")
    expect(dialog.locator("#articles-list")).to_contain_text("No article matches")


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (None, None, "Could not reach the server"),
        (422, {"detail": "the question is too odd"}, "the question is too odd"),
        (503, {"detail": "the engine is starting"}, "still starting up"),
        (500, {"detail": "internal error"}, "had a problem answering"),
    ],
)
def test_errors_are_shown_politely(page: Page, status, body, message) -> None:  # noqa: ANN001
    def handle(route) -> None:  # noqa: ANN001
        if status is None:
            route.abort("connectionrefused")
        else:
            route.fulfill(status=status, json=body)

    page.route("**/api/ask", handle)
    turn = ask(page, "Anything at all?")
    reply = turn.locator(".bubble-error")
    expect(reply).to_contain_text(message)
    retry = reply.get_by_role("button", name="Try again")
    if status == 422:
        expect(retry).to_have_count(0)
        return
    page.unroute("**/api/ask")
    retry.click()
    expect(turn.locator(".bubble-not-found, .bubble-answer")).to_have_count(1)


def test_phone_width(browser, chat_server: str, page_events: PageEvents, artifacts) -> None:  # noqa: ANN001
    page = open_page(browser, chat_server, page_events, width=390, height=844)
    try:
        turn = ask(page, SEED_QUESTION)
        turn.get_by_role("button", name="Show context").click()
        expect(turn.locator("mark.context-quote")).to_be_visible()
        page.locator(".turn").first.scroll_into_view_if_needed()
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width"
        expect(page.get_by_role("button", name="Ask")).to_be_visible()
        page.screenshot(path=str(artifacts / "chat-phone.png"))
    finally:
        page.context.close()
    assert page_events.errors == []


def test_reader_line_of_an_article_without_a_web_url(page: Page, page_events: PageEvents) -> None:
    """No "nullnull" after the id when there is no http(s) link to show."""
    page.get_by_role("button", name=re.compile("^Articles")).click()
    for article_id, title in ((EMOJI_ID, EMOJI_TITLE), (XSS_ID, XSS_TITLE)):
        page.get_by_label("Search titles and ids").fill(title.split()[0])
        page.locator("#articles-list").get_by_role("button", name=title).click()
        reader = page.locator("#reader-dialog")
        expect(reader.locator("h2")).to_have_text(title)
        expect(page.locator("#reader-meta")).to_have_text(article_id)
        assert page.locator("#reader-meta a").count() == 0
        page.keyboard.press("Escape")  # back to the articles panel
    assert page_events.errors == []
