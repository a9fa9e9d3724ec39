"""Writes through the API: what is a conflict, which ids are refused (real app, real index)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.types import Article
from indexer.load import load_path
from qa.api.app import create_app
from qa.engine import Engine
from qa.settings import Settings

KEY = "articles-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def client(demo_index_copy) -> Iterator[TestClient]:  # noqa: ANN001
    settings = Settings(index_dir=demo_index_copy, api_key=KEY, reader="heuristic")
    with TestClient(create_app(settings, engine=Engine(settings))) as c:
        yield c


def _post(client: TestClient, **body: object):  # noqa: ANN202
    return client.post("/api/articles", json=body, headers=AUTH)


def test_two_articles_with_one_title_and_no_id_do_not_overwrite(client: TestClient) -> None:
    first = _post(client, title="Council meeting", text="The council met on Monday. It voted.")
    assert first.status_code == 201
    article_id = first.json()["id"]
    second = _post(client, title="Council meeting", text="Another council met on Friday.")
    assert second.status_code == 409
    assert article_id in second.json()["detail"] and "'id'" in second.json()["detail"]
    stored = client.get(f"/api/articles/{article_id}").json()
    assert stored["text"] == "The council met on Monday. It voted."
    # The same article again is unchanged; with its id, a new text replaces it.
    again = _post(client, title="Council meeting", text="The council met on Monday. It voted.")
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    replaced = _post(client, id=article_id, title="Council meeting", text="It met on Friday.")
    assert replaced.status_code == 201 and replaced.json()["status"] == "updated"


def test_an_update_of_meta_alone_is_stored(client: TestClient) -> None:
    body = {"id": "m1", "title": "Meta", "text": "A short article.", "meta": {"desk": "a"}}
    assert _post(client, **body).status_code == 201
    response = _post(client, **{**body, "meta": {"desk": "b"}})
    assert response.status_code == 201 and response.json()["status"] == "updated"
    assert client.get("/api/articles/m1").json()["meta"] == {"desk": "b"}


@pytest.mark.parametrize(
    "article_id",
    [
        "next\u0085line",  # NEL, a C1 control
        "zero\u200bwidth",  # a format character
        "right\u202eleft",  # a bidi override
        "line\u2028break",  # line separator
        "soft\u00adhyphen",  # a format character
        "private\ue000use",
        "tab\there",
    ],
)
def test_ids_with_control_or_invisible_characters_are_refused(
    client: TestClient, article_id: str
) -> None:
    response = _post(client, id=article_id, title="T", text="Some text.")
    assert response.status_code == 422
    assert "id" in response.json()["detail"]


@pytest.mark.parametrize("title", ["next\u0085line", "line\u2028break", "bell\u0007"])
def test_titles_with_control_characters_or_line_breaks_are_refused(
    client: TestClient, title: str
) -> None:
    assert _post(client, id="t1", title=title, text="Some text.").status_code == 422


def test_titles_may_hold_emoji_sequences_and_joiners(client: TestClient) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # joined by ZWJ
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # with a ZWNJ
    title = f"Family {family} day, {persian}"
    assert _post(client, id="t2", title=title, text="Some text.").status_code == 201


# A record with what the cleaning rules touch: mojibake, CRLF, runs of spaces and blank lines,
# a NUL, a © paragraph, and a date with an offset.
MESSY_TEXT = "CafÃ©  au lait,\r\n\r\n\r\n© REUTERS/Photo\n\nSecond  paragraph.\x00 \n"


@pytest.mark.parametrize(
    "record",
    [
        {"id": "messy", "title": "  Café news ", "text": MESSY_TEXT, "meta": {"desk": "a"}},
        {
            "title": "Café news",
            "url": "https://news.example.com/cafe",
            "text": MESSY_TEXT,
            "published": "2016-09-08T19:05:00+05:00",
        },
    ],
)
def test_a_record_posted_or_loaded_from_jsonl_is_the_same_article(
    demo_index_copy,  # noqa: ANN001
    tmp_path: Path,
    record: dict,
) -> None:
    settings = Settings(index_dir=demo_index_copy, api_key=KEY, reader="heuristic")
    engine = Engine(settings)
    with TestClient(create_app(settings, engine=engine)) as client:
        posted = client.post("/api/articles", json=record, headers=AUTH)
        assert posted.status_code == 201, posted.text
        stored = client.get(f"/api/articles/{posted.json()['id']}").json()
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    (loaded,) = load_path(path)
    assert isinstance(loaded, Article)
    assert loaded.id == stored["id"]
    assert loaded.text == stored["text"]  # byte for byte
    assert loaded.text == "Café  au lait,\n\n\n© REUTERS/Photo\n\nSecond  paragraph. \n"
    assert (loaded.title, loaded.url, loaded.meta, loaded.published) == (
        stored["title"],
        stored["url"],
        stored["meta"],
        stored["published"],
    )
    assert loaded.content_hash == Article.model_validate(stored).content_hash
    # Added again from the file, it is the article already stored: nothing changes.
    report = engine.add([loaded])
    assert report.unchanged == [loaded.id] and not report.added and not report.updated
