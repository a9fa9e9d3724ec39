"""/healthz tells the truth, errors are JSON that keep the connection, a full disk is 507:
the real app over real (and damaged) copies of the demo index."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from indexer.stores.embedded.records import DB_NAME
from qa.api.app import create_app
from qa.api.middleware import UnexpectedErrorMiddleware
from qa.engine import Engine
from qa.settings import Settings
from tests.corruption import QUESTION_309, random_bytes
from tests.reliability.conftest import free_port

KEY = "health-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _settings(index: Path) -> Settings:
    return Settings(index_dir=index, reader="heuristic", api_key=KEY)


def _wait_for_health(client: TestClient, status: str) -> dict:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        body = client.get("/healthz").json()
        if body["status"] == status:
            return body
        time.sleep(0.2)
    pytest.fail(f"/healthz never became {status!r}")


def test_healthz_is_ok_after_a_passing_self_test(demo_index_copy: Path) -> None:
    with TestClient(create_app(_settings(demo_index_copy))) as client:
        body = _wait_for_health(client, "ok")
        assert body["articles"] == 13 and body["detail"] is None
        assert client.post("/api/ask", json={"question": QUESTION_309}).status_code == 200


def test_healthz_says_why_the_engine_failed_to_start_without_paths(demo_index_copy: Path) -> None:
    random_bytes(demo_index_copy / DB_NAME, 80, 16, 100, seed=0)  # the SQLite file header
    with TestClient(create_app(_settings(demo_index_copy))) as client:
        body = _wait_for_health(client, "error")
        response = client.get("/healthz")
        assert response.status_code == 503
        assert "qa-index check" in body["detail"]
        asked = client.post("/api/ask", json={"question": QUESTION_309})
        assert asked.status_code == 503
        for text in (response.text, asked.text):
            assert str(demo_index_copy) not in text and "/" not in json.loads(text)["detail"]


def test_healthz_is_503_when_asks_cannot_work(demo_index_copy: Path) -> None:
    settings = _settings(demo_index_copy)
    engine = Engine(settings).warm_up()
    client = TestClient(create_app(settings, engine=engine))
    assert client.get("/healthz").status_code == 200
    path = demo_index_copy / DB_NAME
    with open(path, "r+b") as f:  # every page but the first zeroed under the running engine
        f.seek(4096)
        f.write(bytes(path.stat().st_size - 4096))
    # SQLite keeps the pages it read while page 1 is unchanged: let it go to the disk, as it
    # would once they leave its cache (else the random self-test may read only cached pages).
    engine.store.records.db.execute("PRAGMA shrink_memory")  # noqa: SLF001
    for _ in range(3):
        client.post("/api/ask", json={"question": QUESTION_309})
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert str(demo_index_copy) not in response.text


def test_a_full_disk_is_507_and_the_index_is_unchanged(demo_index_copy: Path) -> None:
    settings = _settings(demo_index_copy)
    engine = Engine(settings)
    client = TestClient(create_app(settings, engine=engine))
    before = client.get("/api/articles?limit=500").json()
    # SQLite's own limit on the database size: the same SQLITE_FULL a full disk gives.
    pages = engine.store.records.db.execute("PRAGMA page_count").fetchone()[0]  # noqa: SLF001
    engine.store.records.db.execute(f"PRAGMA max_page_count = {pages}")  # noqa: SLF001
    text = " ".join(f"Sentence number {i} says something new about topic {i}." for i in range(400))
    response = client.post(
        "/api/articles", json={"id": "big", "title": "Big", "text": text}, headers=AUTH
    )
    assert response.status_code == 507
    assert "insufficient storage" in response.json()["detail"]
    assert "disk" in response.json()["detail"]
    assert client.get("/api/articles?limit=500").json() == before
    assert client.get("/api/articles/big").status_code == 404
    assert client.post("/api/ask", json={"question": QUESTION_309}).json()["found"]
    engine.store.records.db.execute("PRAGMA max_page_count = 1073741823")  # noqa: SLF001 - space again
    again = client.post(
        "/api/articles", json={"id": "big", "title": "Big", "text": text}, headers=AUTH
    )
    assert again.status_code == 201


# ---- unexpected errors keep the connection --------------------------------------------------
def _failing(request):  # noqa: ANN001, ANN202
    raise RuntimeError("boom")


def _fine(request):  # noqa: ANN001, ANN202
    return PlainTextResponse("fine")


@pytest.fixture
def error_server() -> Iterator[int]:
    """uvicorn on a free port serving a tiny app behind the middleware: one route raises."""
    app = Starlette(routes=[Route("/fail", _failing), Route("/fine", _fine)])
    app.add_middleware(UnexpectedErrorMiddleware)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def _responses(port: int, requests: list[bytes]) -> list[bytes]:
    """Send ``requests`` one after the other on one connection; the raw responses."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for request in requests:
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            while len(body) < length:
                body += sock.recv(65536)
            out.append(head + b"\r\n\r\n" + body)
    return out


def test_an_unexpected_error_is_json_500_and_the_connection_stays_open(error_server: int) -> None:
    get = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
    first, second, third = _responses(
        error_server, [get % b"/fail", get % b"/fine", get % b"/fail"]
    )
    assert first.startswith(b"HTTP/1.1 500")
    assert json.loads(first.partition(b"\r\n\r\n")[2]) == {"detail": "internal error"}
    assert b"connection: close" not in first.lower()
    assert second.startswith(b"HTTP/1.1 200") and second.endswith(b"fine")
    assert third.startswith(b"HTTP/1.1 500")
