"""Fast tests of the page route (no browser): the HTML, its headers and the static files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.settings import Settings
from web.routes import STATIC_DIR, asset_version


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    # The page never touches the engine; any object stands in for it (no model is loaded).
    settings = Settings(index_dir=tmp_path_factory.mktemp("unused-index"))
    return TestClient(create_app(settings, engine=object()))  # type: ignore[arg-type]


def test_chat_page_is_html_with_a_strict_csp(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert response.headers["cache-control"] == "no-cache"


def test_chat_page_has_no_inline_script_style_or_handlers(client: TestClient) -> None:
    html = client.get("/").text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts, "the page loads its script"
    for attrs, body in scripts:
        assert "src=" in attrs and not body.strip()
    assert "<style" not in html
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I)


def test_chat_page_is_accessible_by_structure(client: TestClient) -> None:
    html = client.get("/").text
    assert '<html lang="en">' in html
    assert 'name="viewport"' in html
    assert re.search(r'<label for="question"', html) and 'id="question"' in html
    assert 'aria-live="polite"' in html and 'role="log"' in html


@pytest.mark.parametrize(
    ("name", "kind"),
    [("app.js", "javascript"), ("app.css", "text/css"), ("favicon.svg", "image/svg+xml")],
)
def test_static_files_are_served_with_a_version(client: TestClient, name: str, kind: str) -> None:
    html = client.get("/").text
    match = re.search(rf'/static/{re.escape(name)}\?v=([0-9a-f]+)"', html)
    assert match and match.group(1) == asset_version()
    response = client.get(f"/static/{name}?v={match.group(1)}")
    assert response.status_code == 200
    assert kind in response.headers["content-type"]


def test_asset_version_follows_the_files(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("one")
    before = asset_version(tmp_path)
    (tmp_path / "app.js").write_text("two")
    assert asset_version(tmp_path) != before


def test_script_never_parses_strings_as_html() -> None:
    """Everything from the server or the user goes in as text (see the XSS browser test)."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted(STATIC_DIR.rglob("*.js")))
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("//"))
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        if sink == "innerHTML":
            # The el() helper names it only to refuse it.
            assert code.count(sink) == 1 and 'key === "innerHTML"' in code
        else:
            assert sink not in code, sink


def test_the_page_modules_are_served_and_always_revalidated(client: TestClient) -> None:
    """app.js imports js/*.js by plain URLs: none may come stale from a browser cache."""
    entry = client.get("/static/app.js")
    imported = re.findall(r'from "\./(js/[a-z]+\.js)"', entry.text)
    assert len(imported) >= 5
    for path in ["app.js", *imported]:
        response = client.get(f"/static/{path}")
        assert response.status_code == 200 and "javascript" in response.headers["content-type"]
        assert response.headers["cache-control"] == "no-cache"
