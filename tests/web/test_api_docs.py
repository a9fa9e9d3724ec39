"""The API docs (/docs) render in a real browser with every request on 127.0.0.1."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

expect.set_options(timeout=30_000)


@pytest.mark.slow
def test_docs_render_with_no_request_leaving_localhost(browser, chat_server: str) -> None:  # noqa: ANN001
    context = browser.new_context(base_url=chat_server)
    context.set_default_timeout(30_000)
    requested: list[str] = []
    outside: list[str] = []
    errors: list[str] = []

    def only_localhost(route) -> None:  # noqa: ANN001
        url = route.request.url
        requested.append(url)
        if urlsplit(url).hostname != "127.0.0.1":
            outside.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_localhost)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto("/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Article QA")
        ask = page.locator(".opblock-summary-path", has_text="/api/ask").first
        expect(ask).to_be_visible()
        ask.click()  # the operation opens, with its request schema
        expect(page.get_by_role("button", name="Try it out")).to_be_visible()
    finally:
        context.close()
    assert outside == []
    assert errors == []
    assert any(url.endswith("/openapi.json") for url in requested)
