"""The PostgreSQL store on a real server: a SIGKILLed ``qa-index add`` leaves the database
consistent and a re-run finishes it exactly; two ``qa-serve`` replicas over one database see
each other's writes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from indexer.load import load_path
from indexer.pipeline import Indexer
from tests.conftest import DEV_ARTICLES, start_index_add, store_settings
from tests.indexer.test_stores import assert_postings_consistent
from tests.reliability.conftest import AUTH, start_server, stop_server


def _generation(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as db:
            row = db.execute("SELECT value FROM qa_meta WHERE key = 'generation'").fetchone()
    except psycopg.Error:
        return 0
    return int(row[0]) if row else 0


def _assert_exactly_split(url: str, tmp_path: Path) -> tuple[int, int]:
    """Every stored article has exactly the passages a clean split gives it (no duplicates,
    none missing) and nothing else is stored; returns (articles, passages)."""
    indexer = Indexer.from_settings(store_settings("postgresql", tmp_path / "unused", url))
    try:
        stored = indexer.store.read_articles(indexer.store.article_hashes())
        with psycopg.connect(url) as db:
            rows = db.execute("SELECT article_id, id FROM passages ORDER BY key").fetchall()
        by_article: dict[str, list[str]] = {}
        for article_id, passage_id in rows:
            by_article.setdefault(article_id, []).append(passage_id)
        for article in stored.values():
            assert sorted(by_article.pop(article.id, [])) == sorted(
                p.id for p in indexer.split(article)
            )
        assert by_article == {}  # no passage without its article
        assert_postings_consistent(url)
        return indexer.store.counts()
    finally:
        indexer.store.close()


@pytest.mark.slow
def test_sigkill_mid_add_leaves_the_database_consistent_and_rerun_completes(
    database_url: str, tmp_path: Path
) -> None:
    seen = []
    for target in (1, 3):
        before = _generation(database_url)
        proc = start_index_add("--index", str(tmp_path / "unused"), "--database-url", database_url)
        deadline = time.monotonic() + 300
        while _generation(database_url) < before + target and proc.poll() is None:
            assert time.monotonic() < deadline, "indexing made no progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        articles, passages = _assert_exactly_split(database_url, tmp_path)
        assert passages > 0
        seen.append(articles)
    assert seen == sorted(seen)

    done = start_index_add("--index", str(tmp_path / "unused"), "--database-url", database_url)
    _, err = done.communicate(timeout=900)
    assert done.returncode == 0, err.decode()
    articles, passages = _assert_exactly_split(database_url, tmp_path)
    assert articles == sum(1 for _ in load_path(DEV_ARTICLES))
    again = start_index_add("--index", str(tmp_path / "unused"), "--database-url", database_url)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0
    assert "embedded 0 passages" in out.decode()
    assert _assert_exactly_split(database_url, tmp_path) == (articles, passages)


def _ask(url: str, question: str) -> list[dict]:
    r = httpx.post(f"{url}/api/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["answers"]


@pytest.mark.slow
def test_two_replicas_over_one_database_see_each_others_writes(
    database_url: str, tmp_path: Path
) -> None:
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "library.txt").write_text(
        "Library reopens\n\nThe town library reopened with 18,000 new books.\n"
    )
    env = {"QA_DATABASE_URL": database_url, "QA_DEMO_DIR": str(demo)}
    a = start_server(tmp_path / "a", tmp_path / "a.log", env=env)
    try:
        b = start_server(tmp_path / "b", tmp_path / "b.log", env=env)
        try:
            for server in (a, b):
                health = httpx.get(f"{server.url}/healthz", timeout=5).json()
                assert (health["status"], health["articles"]) == ("ok", 1)  # indexed once
            article = {
                "id": "harbour",
                "title": "Harbour news",
                "text": "The harbour master counted 57 sailing boats on Sunday.",
            }
            question = "How many sailing boats did the harbour master count?"
            r = httpx.post(f"{a.url}/api/articles", json=article, headers=AUTH, timeout=60)
            assert r.status_code in (200, 201), r.text
            added = time.monotonic()
            while True:
                answers = _ask(b.url, question)
                if answers and answers[0]["article"]["id"] == "harbour":
                    break
                assert time.monotonic() - added < 5, "replica B did not see A's write in 5 s"
                time.sleep(0.2)
            best = answers[0]
            assert article["text"][best["start"] : best["end"]] == best["text"]
            assert "57" in best["quote"]

            r = httpx.delete(f"{b.url}/api/articles/harbour", headers=AUTH, timeout=60)
            assert r.status_code == 200, r.text
            assert all(x["article"]["id"] != "harbour" for x in _ask(a.url, question))
            assert httpx.get(f"{a.url}/api/articles/harbour", timeout=5).status_code == 404
        finally:
            stop_server(b)
    finally:
        stop_server(a)
