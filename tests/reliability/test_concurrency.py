"""Asks keep working while articles are added, updated and removed through the API of a real
``qa-serve``: every ask is a 200, and every answer is verbatim in a version of its article
that really existed (readers never see a half-written index)."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.indexer.test_store import assert_consistent
from tests.reliability.conftest import (
    AUTH,
    KEY,
    QUESTION_309,
    Server,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.slow  # askers and a writer for seconds

DURATION_S = 8.0
ASKERS = 4
WRITER_IDS = [f"w-{n}" for n in range(4)]
# Idle connections are dropped before uvicorn's 5 s keep-alive timeout, so a request never
# races the server closing its connection (httpx's default expiry is also 5 s).
LIMITS = httpx.Limits(keepalive_expiry=2.0)


def assert_only_on_loopback(url: str) -> None:
    """The server (bound by default) is not reachable on this machine's other addresses."""
    port = int(url.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # UDP: picks the outward address, sends nothing
            address = probe.getsockname()[0]
        except OSError:
            return  # no other interface to check
    if address.startswith("127."):
        return
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{address}:{port}/healthz", timeout=5)


def festival(article_id: str, version: int) -> str:
    n = 100 + version
    return (
        f"The lantern festival in article {article_id} drew {n} visitors this year. "
        f"Organisers counted {n} lanterns on the river, version {version} of the count."
    )


@pytest.fixture
def server(small_index_copy: Path, tmp_path: Path) -> Iterator[Server]:
    running = start_server(small_index_copy, tmp_path / "qa-serve.log", "--verbose")
    try:
        yield running
    finally:
        stop_server(running)


def test_asks_stay_correct_while_articles_change(server: Server, small_index_copy: Path):
    versions: dict[str, list[str]] = {}  # every text each writer id ever had (or is getting)
    versions_lock = threading.Lock()
    stable: dict[str, str] = {}
    stable_titles: dict[str, str] = {}
    with httpx.Client(base_url=server.url, timeout=60, limits=LIMITS) as c:
        for article_id in ("msn-pakistan-islamic-state", "zoo", "bridge"):
            article = c.get(f"/api/articles/{article_id}").json()
            stable[article_id], stable_titles[article_id] = article["text"], article["title"]

    stop = threading.Event()
    problems: list[str] = []
    counts: Counter[str] = Counter()
    counts_lock = threading.Lock()

    def note(kind: str, problem: str | None = None) -> None:
        with counts_lock:
            counts[kind] += 1
            if problem:
                problems.append(problem)

    def writer() -> None:
        with httpx.Client(base_url=server.url, timeout=60, limits=LIMITS, headers=AUTH) as c:
            step = 0
            while not stop.is_set():
                article_id = WRITER_IDS[step % len(WRITER_IDS)]
                if step % 3 == 2:
                    r = c.delete(f"/api/articles/{article_id}")
                    ok = r.status_code in (200, 404)
                    note("delete")
                else:
                    with versions_lock:
                        history = versions.setdefault(article_id, [])
                        text = festival(article_id, len(history))
                        history.append(text)  # recorded before any reader can see it
                    body = {"id": article_id, "title": f"Festival {article_id}", "text": text}
                    r = c.post("/api/articles", json=body)
                    ok = r.status_code in (200, 201)
                    note("write")
                if not ok:
                    note("writer-error", f"writer: {r.status_code} {r.text[:200]}")
                step += 1

    def check_answer(c: httpx.Client, answer: dict) -> str | None:
        article_id = answer["article"]["id"]
        if answer["field"] == "title":  # a writer's titles never change
            candidates = [stable_titles.get(article_id, f"Festival {article_id}")]
        elif article_id in stable:
            candidates = [stable[article_id]]
        else:
            with versions_lock:
                candidates = list(versions.get(article_id, []))
        for text in candidates:
            if (
                text[answer["start"] : answer["end"]] == answer["text"]
                and text[answer["quote_start"] : answer["quote_end"]] == answer["quote"]
            ):
                break
        else:
            return f"answer not verbatim in any version of {article_id}: {answer}"
        if article_id not in stable:
            note("answer-from-a-changing-article")
        got = c.get(f"/api/articles/{article_id}")
        if got.status_code == 404 and article_id not in stable:
            return None  # removed since: fine, as long as the quote was right
        if got.status_code != 200:
            return f"GET {article_id}: {got.status_code} {got.text[:200]}"
        if article_id in stable and got.json()["text"] != stable[article_id]:
            return f"the stable article {article_id} changed"
        return None

    def asker(n: int) -> None:
        questions = [QUESTION_309, "How many visitors did the lantern festival draw?"]
        with httpx.Client(base_url=server.url, timeout=60, limits=LIMITS) as c:
            i = n
            while not stop.is_set():
                question = questions[i % len(questions)]
                i += 1
                r = c.post("/api/ask", json={"question": question, "k": 3})
                if r.status_code != 200:
                    note("ask-error", f"ask: {r.status_code} {r.text[:200]}")
                    continue
                body = r.json()
                note("ask")
                if question == QUESTION_309 and not any(
                    "309" in a["quote"] for a in body["answers"]
                ):
                    note("ask-error", f"the stable answer went missing: {body}")
                for answer in body["answers"]:
                    if problem := check_answer(c, answer):
                        note("ask-error", problem)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=asker, args=(n,)) for n in range(ASKERS)
    ]
    for t in threads:
        t.start()
    time.sleep(DURATION_S)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a client thread hung"

    assert not problems, "\n".join(problems[:20])
    assert counts["ask"] >= ASKERS and counts["write"] >= 2 and counts["delete"] >= 1, counts
    assert counts["answer-from-a-changing-article"] >= 1, counts  # the version check ran

    # the index the server leaves behind is consistent, and matches what the API says
    with httpx.Client(base_url=server.url, timeout=60, limits=LIMITS) as c:
        health = c.get("/healthz").json()
        ids = {item["id"] for item in c.get("/api/articles", params={"limit": 500}).json()["items"]}
        # a wrong key, to check below that no key reaches the log
        assert (
            c.delete(
                "/api/articles/zoo", headers={"Authorization": "Bearer n0t-the-key"}
            ).status_code
            == 403
        )
    assert_only_on_loopback(server.url)
    stop_server(server)
    articles, passages = assert_consistent(small_index_copy)
    assert (articles, passages) == (health["articles"], health["passages"]) == (len(ids), passages)
    assert set(stable) <= ids
    log = server.log()
    assert "POST /api/ask" in log  # the access log was on
    assert KEY not in log and "n0t-the-key" not in log
    assert "Traceback" not in log, log
