"""Deep links in a real Chromium: a page served on 127.0.0.1 opens scrolled to the quote,
for the exact form (with "-", "&" and "," in the quote) and the textStart,textEnd form."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from qa.links import text_fragment_link

SHORT = "Pro-government militias, police & army arrested 309 people, he said."
LONG_FIRST = "The spokesman gave the figures at a news conference in Rawalpindi on Thursday."
LONG_LAST = "Most of them were Pakistani, but about 25 were foreigners from three countries."
FILLER = "<p>Filler paragraph {n} about the weather in the harbour and nothing else.</p>"
PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Long page</title></head><body>"
    + "".join(FILLER.format(n=n) for n in range(150))
    + f"<p id='short'>{SHORT.replace('&', '&amp;')}</p>"
    + "".join(FILLER.format(n=n) for n in range(150, 300))
    + f"<p id='long-first'>{LONG_FIRST}</p><p id='long-last'>{LONG_LAST}</p>"
    + "".join(FILLER.format(n=n) for n in range(300, 450))
    + "</body></html>"
).encode()


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def page_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/article"
    server.shutdown()
    server.server_close()


def _visible_after_opening(browser, url: str, element_id: str) -> tuple[bool, float]:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    page = context.new_page()
    page.goto(url)
    # The text fragment scroll runs after load: wait for it (or a second, when none comes).
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function("window.scrollY > 0", timeout=1000 if "#" not in url else 10_000)
    box = page.locator(f"#{element_id}").bounding_box()
    scrolled = page.evaluate("window.scrollY")
    context.close()
    return 0 <= box["y"] <= 700, scrolled


def test_the_link_opens_the_page_at_the_quote(browser, page_url: str) -> None:  # noqa: ANN001
    # Without the fragment the page opens at the top, the quote far below.
    assert _visible_after_opening(browser, page_url, "short") == (False, 0)
    link = text_fragment_link(page_url, SHORT)
    assert "%2D" in link and "%26" in link and "%2C" in link
    visible, scrolled = _visible_after_opening(browser, link, "short")
    assert visible and scrolled > 1000


def test_a_long_quote_over_two_paragraphs_opens_at_its_start(browser, page_url: str) -> None:  # noqa: ANN001
    link = text_fragment_link(page_url, f"{LONG_FIRST}\n\n{LONG_LAST}")
    assert link.count(",") == 1  # textStart,textEnd
    visible, scrolled = _visible_after_opening(browser, link, "long-first")
    assert visible and scrolled > 1000
