"""The HTTP contract of ARCHITECTURE.md, over the real app and a real index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.engine import Engine
from qa.settings import Settings

KEY = "s3cret-key"


@pytest.fixture
def client(demo_index_copy) -> Iterator[TestClient]:  # noqa: ANN001
    settings = Settings(index_dir=demo_index_copy, api_key=KEY, reader="heuristic")
    with TestClient(create_app(settings, engine=Engine(settings))) as c:
        yield c


AUTH = {"Authorization": f"Bearer {KEY}"}


def test_ask_contract(client: TestClient) -> None:
    r = client.post(
        "/api/ask",
        json={"question": "How many people associated with Islamic State has Pakistan arrested?"},
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"question", "found", "took_ms", "answers"}
    answer = body["answers"][0]
    assert set(answer) == {
        "text",
        "field",
        "start",
        "end",
        "quote",
        "quote_start",
        "quote_end",
        "score",
        "article",
        "link",
        "newer_than",
    }
    assert answer["link"].startswith(answer["article"]["url"] + "#:~:text=")
    assert set(answer["article"]) == {"id", "title", "url", "published"}
    article = client.get(f"/api/articles/{answer['article']['id']}").json()
    assert article["text"][answer["start"] : answer["end"]] == answer["text"] == "309"
    assert article["text"][answer["quote_start"] : answer["quote_end"]] == answer["quote"]
    assert set(article) == {"id", "title", "url", "text", "meta", "published"}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"question": ""}, 422, "empty"),
        ({"question": "   "}, 422, "empty"),
        ({"question": "x" * 3000}, 422, "limit"),
        ({"question": "ok?", "k": 0}, 422, "k must"),
        ({"question": "ok?", "k": 1000}, 422, "k must"),
        ({"question": "ok?", "k": "x"}, 422, "k"),
        ({"k": 3}, 422, "question"),
        ({"question": "ok?", "since": "last week"}, 422, "not an ISO 8601 date"),
        ({"question": "ok?", "since": "2017-02-01", "until": "2017-01-01"}, 422, "after until"),
    ],
)
def test_ask_errors_are_clear_json(client: TestClient, body: dict, status: int, words: str) -> None:
    r = client.post("/api/ask", json=body)
    assert r.status_code == status
    assert words in r.json()["detail"]


def test_ask_follows_up_on_the_conversation_history(client: TestClient) -> None:
    question = {"question": "How many of them were foreigners?"}
    history = ["How many people has Pakistan arrested?"]
    r = client.post("/api/ask", json={**question, "history": history})
    assert r.status_code == 200 and "25" in r.json()["answers"][0]["text"]
    r = client.post("/api/ask", json={**question, "history": history * 11})
    assert r.status_code == 422 and "history" in r.json()["detail"]


def test_malformed_json_and_oversized_body(client: TestClient) -> None:
    r = client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    r = client.post(
        "/api/ask", content=b"x" * 2_000_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_articles_list_get_add_update_delete(client: TestClient) -> None:
    page = client.get("/api/articles", params={"limit": 5}).json()
    assert page["total"] == 13 and len(page["items"]) == 5
    assert client.get("/api/articles", params={"q": "warsaw"}).json()["total"] == 1
    assert client.get("/api/articles/nope").status_code == 404

    new = {
        "id": "zoo",
        "title": "Zoo news",
        "url": "https://example.org/zoo",
        "text": "The zoo in Springfield got three new capybaras on Monday.",
    }
    assert client.post("/api/articles", json=new).status_code == 401
    bad = client.post("/api/articles", json=new, headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 403
    r = client.post("/api/articles", json=new, headers=AUTH)
    assert r.status_code == 201 and r.json() == {"id": "zoo", "status": "added", "passages": 1}
    assert client.post("/api/articles", json=new, headers=AUTH).json()["status"] == "unchanged"
    new["text"] += " They are called Tom, Ann and Bo."
    assert client.post("/api/articles", json=new, headers=AUTH).json()["status"] == "updated"
    answer = client.post(
        "/api/ask", json={"question": "How many capybaras did the zoo get?"}
    ).json()
    assert answer["found"] and answer["answers"][0]["article"]["id"] == "zoo"
    assert answer["answers"][0]["article"]["published"] is None

    # A publish date is kept (in the stored ISO 8601 form), and a bad one refused.
    dated = {**new, "published": "2024-05-06T10:00:00+02:00"}
    assert client.post("/api/articles", json=dated, headers=AUTH).json()["status"] == "updated"
    assert client.get("/api/articles/zoo").json()["published"] == "2024-05-06T08:00:00Z"
    bad_date = client.post("/api/articles", json={**new, "published": "May"}, headers=AUTH)
    assert bad_date.status_code == 422 and "ISO 8601" in bad_date.json()["detail"]

    assert client.delete("/api/articles/zoo").status_code == 401
    assert client.delete("/api/articles/zoo", headers=AUTH).json()["status"] == "deleted"
    assert client.delete("/api/articles/zoo", headers=AUTH).status_code == 404
    assert client.get("/api/articles").json()["total"] == 13


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {
        "status": "ok",
        "articles": 13,
        "passages": client.get("/healthz").json()["passages"],
        "detail": None,
    }
    schema = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/articles", "/api/articles/{article_id}", "/healthz"} <= set(
        schema["paths"]
    )
    assert client.get("/docs").status_code == 200


def test_security_headers(client: TestClient) -> None:
    r = client.get("/healthz")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_healthz_is_503_until_the_engine_can_answer(demo_index_copy) -> None:  # noqa: ANN001
    app = create_app(Settings(index_dir=demo_index_copy))
    with TestClient(app) as c:
        first = c.get("/healthz")
        assert first.status_code in (200, 503)
        if first.status_code == 503:
            assert first.json()["status"] == "starting"
            assert c.post("/api/ask", json={"question": "hi?"}).status_code == 503
