"""``POST /api/feedback`` (open) and ``GET /api/feedback`` (key required when set)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.engine import Engine
from qa.settings import Settings

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
GOOD = {
    "question": "How many people has Pakistan arrested?",
    "answer_text": "309",
    "article_id": "msn-pakistan-islamic-state",
    "helpful": True,
    "comment": "Exactly what I needed",
}


@pytest.fixture
def client(demo_index_copy) -> Iterator[TestClient]:  # noqa: ANN001
    settings = Settings(index_dir=demo_index_copy, api_key=KEY, reader="heuristic")
    with TestClient(create_app(settings, engine=Engine(settings))) as c:
        yield c


def test_feedback_posts_and_lists(client: TestClient) -> None:
    r = client.post("/api/feedback", json=GOOD)  # no key needed: readers give feedback
    assert r.status_code == 201
    stored = r.json()
    assert stored["id"] >= 1 and stored["created_at"].endswith("Z")
    assert {k: stored[k] for k in GOOD} == GOOD
    assert stored["channel"] == "api" and stored["start"] is None
    unhelpful = {**GOOD, "helpful": False, "comment": None, "start": 1203, "channel": "web"}
    assert client.post("/api/feedback", json=unhelpful).status_code == 201

    assert client.get("/api/feedback").status_code == 401
    assert client.get("/api/feedback", headers={"Authorization": "Bearer no"}).status_code == 403
    page = client.get("/api/feedback", headers=AUTH).json()
    assert page["total"] == 2 and [i["helpful"] for i in page["items"]] == [True, False]
    assert page["items"][1]["start"] == 1203 and page["items"][1]["channel"] == "web"
    only = client.get("/api/feedback", params={"helpful": "false"}, headers=AUTH).json()
    assert only["total"] == 1 and only["items"][0]["comment"] is None


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"article_id": "nope"}, 404, "no article with id 'nope'"),
        ({"helpful": "maybe"}, 422, "helpful"),
        ({"question": ""}, 422, "question"),
        ({"answer_text": "x" * 3000}, 422, "answer_text"),
        ({"comment": "x" * 3000}, 422, "comment"),
        ({"start": -1}, 422, "start"),
        ({"channel": "email"}, 422, "channel"),
        ({"question": "\ud800"}, 422, "question"),
    ],
)
def test_bad_feedback_is_refused_clearly(
    client: TestClient, change: dict, status: int, words: str
) -> None:
    body = json.dumps({**GOOD, **change})  # ASCII: a lone surrogate is sent as \ud800
    r = client.post("/api/feedback", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status
    assert words in r.json()["detail"]
    assert client.get("/api/feedback", headers=AUTH).json()["total"] == 0
