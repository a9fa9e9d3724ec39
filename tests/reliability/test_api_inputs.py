"""Hostile and odd requests to the JSON API: always a 4xx JSON body with a clear message,
never a 500, never a stack trace; odd but valid text is answered."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.reliability.conftest import AUTH, QUESTION_309

JSON = {"content-type": "application/json"}


def assert_clear_error(r: Response, status: int, *words: str) -> str:
    """A JSON error with the expected code, a message holding ``words``, and no internals."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail
    for word in words:
        assert word in detail, detail
    assert_no_internals(r)
    return detail


def assert_no_internals(r: Response) -> None:
    for leak in ("Traceback", 'File "', ".py", "/work/", "site-packages"):
        assert leak not in r.text, r.text


# --- questions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"question": ""}, 422, ["empty"]),
        ({"question": " \t\n\u3000 "}, 422, ["empty"]),
        ({"question": "\x00\x00 \x00"}, 422, ["empty"]),
        ({"question": "q" * 100_000}, 422, ["100000 characters", "limit is 2000"]),
        ({"question": "ok?", "k": 0}, 422, ["k must be between 1 and 20"]),
        ({"question": "ok?", "k": -1}, 422, ["k must be between 1 and 20"]),
        ({"question": "ok?", "k": 1000}, 422, ["k must be between 1 and 20"]),
        ({"question": "ok?", "k": 2**70}, 422, ["k must be between 1 and 20"]),
        ({"question": "ok?", "k": "x"}, 422, ["k:", "integer"]),
        ({"question": "ok?", "k": 1.5}, 422, ["k:", "integer"]),
        ({"question": "ok?", "k": None}, 422, ["k:", "integer"]),
        ({"question": 42}, 422, ["question:", "string"]),
        ({"question": ["a"]}, 422, ["question:", "string"]),
        ({"k": 3}, 422, ["question", "required"]),
        ({}, 422, ["question", "required"]),
    ],
)
def test_bad_questions_are_clear_422s(client: TestClient, body: dict, status: int, words: list):
    assert_clear_error(client.post("/api/ask", json=body), status, *words)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"question": "\\ud800 lone high surrogate"}',
        b'{"question": "lone low \\udfff surrogate"}',
    ],
)
def test_lone_surrogates_are_a_422_not_a_500(client: TestClient, raw: bytes) -> None:
    assert_clear_error(client.post("/api/ask", content=raw, headers=JSON), 422, "surrogate")


@pytest.mark.parametrize(
    "question",
    [
        "\u202eHow many people has Pakistan arrested?",  # right-to-left override
        "كم عدد الأشخاص الذين اعتقلتهم باكستان؟",  # Arabic, RTL
        "כמה אנשים נעצרו בפקיסטן?",  # Hebrew, RTL
        "How many 🧑‍🤝‍🧑 people has Pakistan 🇵🇰 arrested? 😀😀",
        "How many people\x00 has Pakistan arrested?",  # NUL inside
        "How many people has Pakistan arreste\u0301d\u200b\u200d\ufeff?",  # combining, zero-width
        "\U0001f600" * 500,  # astral characters only
        "?" * 1999,
        "OR AND NOT NEAR * \" ' ( ) : ^ -- ; DROP TABLE articles",  # FTS5 / SQL syntax
    ],
)
def test_odd_but_valid_questions_are_answered(client: TestClient, question: str) -> None:
    r = client.post("/api/ask", json={"question": question, "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "\x00" not in body["question"]
    for a in body["answers"]:
        text = client.get(f"/api/articles/{a['article']['id']}").json()[a["field"]]
        assert text[a["start"] : a["end"]] == a["text"]
        assert text[a["quote_start"] : a["quote_end"]] == a["quote"]


def test_nul_is_dropped_and_the_question_still_answered(client: TestClient) -> None:
    question = QUESTION_309.replace("Pakistan", "Paki\x00stan")
    body = client.post("/api/ask", json={"question": question}).json()
    assert body["question"] == QUESTION_309
    assert body["found"] and any("309" in a["quote"] for a in body["answers"])


# --- bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b'{"question": "ok?"}', {"content-type": "text/plain"}, 415, ["application/json"]),
        (b'{"question": "ok?"}', {}, 415, ["application/json", "no Content-Type"]),
        (b"question=ok%3F", {"content-type": "application/x-www-form-urlencoded"}, 415, []),
        (b"<q>ok?</q>", {"content-type": "application/xml"}, 415, ["application/xml"]),
        (b"", JSON, 422, ["body is empty"]),
        (b"", {}, 422, ["body is empty"]),
        (b"{not json", JSON, 422, ["not valid JSON"]),
        (b'{"question": "ok?"', JSON, 422, ["not valid JSON"]),
        (b"[1, 2]", JSON, 422, ["JSON object"]),
        (b'"ok?"', JSON, 422, ["JSON object"]),
        (b"null", JSON, 422, []),
        (b'{"question": "\xff\xfe bad utf-8"}', JSON, 400, ["UTF-8"]),
        (b'{"question": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", JSON, 400, ["parsed"]),
        (b'{"question": "ok?", "k": NaN}', JSON, 422, ["k"]),
    ],
)
def test_bad_bodies_are_clear_4xx(
    client: TestClient, content: bytes, headers: dict, status: int, words: list
) -> None:
    r = client.post("/api/ask", content=content, headers=headers)
    assert_clear_error(r, status, *words)


def test_bodies_over_the_limit_are_413(client: TestClient) -> None:
    limit = client.app.state.settings.max_body_bytes
    big = json.dumps({"question": "q" * (limit + 10)}).encode()
    # announced by Content-Length
    assert_clear_error(client.post("/api/ask", content=big, headers=JSON), 413, str(limit))

    # streamed without a length (chunked): cut off while reading
    def chunks():  # noqa: ANN202
        for i in range(0, len(big), 65_536):
            yield big[i : i + 65_536]

    r = client.post("/api/ask", content=chunks(), headers=JSON)
    assert_clear_error(r, 413, "over the limit")
    r = client.post("/api/articles", content=big, headers={**JSON, **AUTH})
    assert_clear_error(r, 413)
    # the server is still fine afterwards
    assert client.post("/api/ask", json={"question": QUESTION_309}).json()["found"]


# --- article writes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"title": "t", "text": "x y z", "meta": {"k\\udc00": 1}}', ["surrogate"]),
        (b'{"title": "t", "text": "x y z", "meta": {"a": ["\\ud800"]}}', ["surrogate"]),
        (b'{"title": "t\\ud800", "text": "x y z"}', ["title"]),
        (b'{"id": "a\\u0000b", "title": "t", "text": "x y z"}', ["id", "control"]),
        (b'{"id": "a\\nb", "title": "t", "text": "x y z"}', ["id", "control"]),
        (b'{"id": "   ", "title": "t", "text": "x y z"}', ["id", "blank"]),
        (b'{"id": "a/../b", "title": "t", "text": "x y z"}', ["id", "'..' path segments"]),
        (b'{"id": ".", "title": "t", "text": "x y z"}', ["id", "path segments"]),
        (b'{"title": " \\t ", "text": "x y z"}', ["title", "blank"]),
        (b'{"title": "t", "text": ""}', ["text"]),
        (b'{"title": "t", "text": "\\u0000\\u0000 \\u200b"}', ["empty after cleaning"]),
        (b'{"title": "t"}', ["text", "required"]),
        (b'{"title": "t", "text": "x", "meta": [1]}', ["meta"]),
    ],
)
def test_bad_articles_are_clear_422s(client: TestClient, raw: bytes, words: list) -> None:
    r = client.post("/api/articles", content=raw, headers={**JSON, **AUTH})
    assert_clear_error(r, 422, *words)
    assert client.get("/healthz").json()["articles"] == 3  # nothing was written


def test_odd_article_ids_round_trip(client: TestClient) -> None:
    for article_id in ("a/b/c", "ünïcødé-id", "100%", "a b?c#d", "😀", "x" * 512):
        body = {"id": article_id, "title": "Odd id", "text": f"An article called {article_id}."}
        r = client.post("/api/articles", json=body, headers=AUTH)
        assert r.status_code == 201, r.text
        path = f"/api/articles/{quote(article_id, safe='/')}"
        got = client.get(path)
        assert got.status_code == 200 and got.json()["id"] == article_id
        assert client.delete(path, headers=AUTH).status_code == 200
    assert client.get("/healthz").json()["articles"] == 3


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "x"}, {"q": "x" * 201}],
)
def test_bad_list_parameters_are_clear_422s(client: TestClient, params: dict) -> None:
    assert_clear_error(client.get("/api/articles", params=params), 422, "query.")


def test_odd_list_queries_are_literal(client: TestClient) -> None:
    for q in ("%", "_", "\\", "' OR 1=1 --", "\x00zoo", "😀"):
        r = client.get("/api/articles", params={"q": q})
        assert r.status_code == 200, r.text
        assert r.json()["total"] == (1 if "zoo" in q else 0), (q, r.text)


# --- server errors ----------------------------------------------------------------------


def test_an_unexpected_error_is_a_plain_500_without_internals(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire at /var/lib/secret/index.sqlite")

    monkeypatch.setattr(client.app.state.startup.engine, "ask", boom)
    r = client.post("/api/ask", json={"question": "ok?"})
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert "secret" not in r.text
    assert_no_internals(r)
    assert "disk on fire" in caplog.text  # the operator still sees it in the log


def test_unknown_routes_and_methods_are_json(client: TestClient) -> None:
    assert_clear_error(client.get("/api/nope"), 404)
    assert_clear_error(client.get("/api/ask"), 405)
    assert_clear_error(client.put("/api/articles/zoo", json={}), 405)
