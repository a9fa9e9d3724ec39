"""Auth and exposure: every write needs the key (compared in constant time), the server binds
127.0.0.1 unless told, security headers everywhere, CORS off unless configured, no stack
traces in responses and no key in the logs."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import qa.api.deps
from qa.api.app import create_app
from qa.engine import Engine
from qa.settings import Settings
from tests.reliability.conftest import AUTH, KEY, QUESTION_309, make_settings

WRITES = [
    ("post", "/api/articles", {"id": "new", "title": "New", "text": "A new article, 5 lines."}),
    ("delete", "/api/articles/zoo", None),
    # 192.0.2.1 is reserved for documentation: refused before any connection is made.
    ("post", "/api/sources", {"urls": ["http://192.0.2.1/feed.xml"]}),
]


def _send(client: TestClient, method: str, path: str, body: dict | None, headers: dict):
    if body is None:
        return client.request(method, path, headers=headers)
    return client.request(method, path, json=body, headers=headers)


# --- the API key ------------------------------------------------------------------------


def test_every_write_operation_is_guarded_and_tested(client: TestClient) -> None:
    """Each write in the OpenAPI schema carries the bearer requirement (the key check's
    HTTPBearer) and is one of the WRITES exercised below: a new write route must join."""
    paths = client.get("/openapi.json").json()["paths"]
    writes = {
        (method, path): operation
        for path, operations in paths.items()
        for method, operation in operations.items()
        # Questions and feedback on answers are open to readers, like the chat page.
        if method in ("post", "put", "patch", "delete")
        and (method, path) not in (("post", "/api/ask"), ("post", "/api/feedback"))
    }
    assert set(writes) == {
        ("post", "/api/articles"),
        ("delete", "/api/articles/{article_id}"),
        ("post", "/api/sources"),
    }
    for (method, path), operation in writes.items():
        assert operation.get("security") == [{"HTTPBearer": []}], (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": ""}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": f"Basic {KEY}"}, 401),
        ({"Authorization": KEY}, 401),
        ({"Authorization": "Bearer wrong"}, 403),
        ({"Authorization": f"Bearer {KEY[:-1]}"}, 403),
        ({"Authorization": f"Bearer {KEY}x"}, 403),
        ({"Authorization": f"Bearer {KEY.upper()}"}, 403),
        ({"X-API-Key": KEY}, 401),
    ],
)
def test_writes_without_the_right_key_are_refused(
    client: TestClient, method: str, path: str, body: dict | None, headers: dict, status: int
) -> None:
    r = _send(client, method, path, body, headers)
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert KEY not in r.text
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/healthz").json()["articles"] == 3  # nothing changed


def test_writes_with_the_key_work(client: TestClient) -> None:
    for method, path, body in WRITES:
        r = _send(client, method, path, body, AUTH)
        if path == "/api/sources":  # past the key, to the address rule
            assert r.status_code == 422 and "refused" in r.json()["detail"], r.text
            continue
        assert r.status_code in (200, 201), r.text
    lower = {"Authorization": f"bearer {KEY}"}  # the scheme is case-insensitive
    assert client.delete("/api/articles/new", headers=lower).status_code == 200


def test_the_key_is_compared_in_constant_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare_digest = secrets.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(qa.api.deps.secrets, "compare_digest", spy)
    for key in ("wrong", KEY[:3], KEY):
        for method, path, body in WRITES:
            _send(client, method, path, body, {"Authorization": f"Bearer {key}"})
    assert len(calls) == 3 * len(WRITES)
    assert all(isinstance(a, bytes) and b == KEY.encode() for a, b in calls)


def test_reads_need_no_key(client: TestClient) -> None:
    assert client.post("/api/ask", json={"question": QUESTION_309}).status_code == 200
    assert client.get("/api/articles").status_code == 200
    assert client.get("/api/articles/zoo").status_code == 200


def test_without_a_configured_key_writes_are_open_and_a_public_bind_warns(
    small_index_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(small_index_copy, api_key=None)
    with TestClient(create_app(settings, engine=Engine(settings))) as c:
        assert c.delete("/api/articles/zoo").status_code == 200
    assert "without QA_API_KEY" not in caplog.text  # on 127.0.0.1 that is fine
    create_app(make_settings(small_index_copy, api_key=None, host="0.0.0.0"), engine=None)
    assert "serving on 0.0.0.0 without QA_API_KEY" in caplog.text


# --- binding ----------------------------------------------------------------------------


def test_the_server_binds_localhost_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QA_HOST", "QA_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().host == "127.0.0.1"
    monkeypatch.setenv("QA_HOST", "")  # a blank line in an env file must not mean 0.0.0.0
    assert Settings().host == "127.0.0.1"
    monkeypatch.delenv("QA_HOST")

    import uvicorn

    from qa.cli import serve

    bound: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: bound.append((host, port)))
    app = typer.Typer()
    app.command()(serve)
    runner = CliRunner()
    assert runner.invoke(app, ["--index", "unused-index"]).exit_code == 0
    assert runner.invoke(app, ["--host", "0.0.0.0", "--port", "9001"]).exit_code == 0
    assert bound == [("127.0.0.1", 8000), ("0.0.0.0", 9001)]
    assert "127.0.0.1" in runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output


# --- headers ----------------------------------------------------------------------------


def test_security_headers_on_every_kind_of_response(client: TestClient) -> None:
    responses = {
        "page": client.get("/"),
        "ask": client.post("/api/ask", json={"question": QUESTION_309}),
        "422": client.post("/api/ask", json={"question": ""}),
        "401": client.delete("/api/articles/zoo"),
        "404": client.get("/api/articles/none"),
        "413": client.post("/api/ask", content=b"x" * 2_000_000),
        "openapi": client.get("/openapi.json"),
        "docs": client.get("/docs"),
    }
    for name, r in responses.items():
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp, name
        assert "default-src 'self'" in csp, name
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert r.headers.get("x-frame-options") == "DENY", name
        assert r.headers.get("referrer-policy") == "no-referrer", name
        assert "access-control-allow-origin" not in r.headers, name
    page_csp = responses["page"].headers["content-security-policy"]
    assert "unsafe-inline" not in page_csp and "unsafe-eval" not in page_csp
    assert "object-src 'none'" in page_csp


# --- CORS -------------------------------------------------------------------------------


def test_cors_is_off_by_default(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_CORS_ORIGINS", raising=False)
    assert Settings().cors_origins == []
    origin = {"Origin": "https://evil.example"}
    r = client.post("/api/ask", json={"question": QUESTION_309}, headers=origin)
    assert "access-control-allow-origin" not in r.headers
    preflight = client.options(
        "/api/articles",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code >= 400


def test_cors_is_on_for_the_configured_origins_only(
    small_index_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_CORS_ORIGINS", '["https://x.example"]')
    settings = Settings(index_dir=small_index_copy, reader="heuristic", api_key=KEY)
    assert settings.cors_origins == ["https://x.example"]
    with TestClient(create_app(settings, engine=Engine(settings))) as c:
        good = {"Origin": "https://x.example"}
        r = c.post("/api/ask", json={"question": QUESTION_309}, headers=good)
        assert r.headers["access-control-allow-origin"] == "https://x.example"
        preflight = c.options(
            "/api/articles",
            headers={
                **good,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://x.example"
        assert "access-control-allow-credentials" not in preflight.headers
        evil = {"Origin": "https://evil.example"}
        r = c.post("/api/ask", json={"question": QUESTION_309}, headers=evil)
        assert "access-control-allow-origin" not in r.headers


# --- what leaks -------------------------------------------------------------------------


def test_no_key_in_logs_or_settings_dumps(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for headers in (AUTH, {"Authorization": "Bearer wrong-key-123"}, {}):
        for method, path, body in WRITES:
            _send(client, method, path, body, headers)
    client.post("/api/ask", json={"question": QUESTION_309}, headers=AUTH)
    assert caplog.records  # something was logged
    assert KEY not in caplog.text and "wrong-key-123" not in caplog.text
    settings = client.app.state.settings
    for dump in (repr(settings), str(settings), settings.model_dump_json()):
        assert KEY not in dump


def test_the_app_is_not_in_debug_mode(client: TestClient) -> None:
    assert client.app.debug is False
