"""Kill a real ``qa-index add`` (SIGKILL) at several points; the index must always reopen
consistent, and re-running the add must finish it without duplicates."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from indexer.stores.embedded import EmbeddedStore
from indexer.stores.embedded.records import DB_NAME
from tests.conftest import start_index_add
from tests.indexer.test_store import assert_consistent

pytestmark = pytest.mark.slow  # kills real qa-index processes mid-write


def _generation(directory: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{directory / DB_NAME}?mode=ro", uri=True, timeout=1)
        try:
            row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        finally:
            db.close()
        return int(row[0]) if row else 0
    except sqlite3.Error:
        return 0


def assert_fts_works(directory: Path) -> None:
    """FTS5 agrees with the passages table (integrity-check against the content table), and
    MATCH finds the newest passage (the last chunk committed before the kill)."""
    db = sqlite3.connect(directory / DB_NAME)
    try:
        db.execute("INSERT INTO passages_fts(passages_fts, rank) VALUES ('integrity-check', 1)")
        rowid, text = db.execute(
            "SELECT rowid, text FROM passages ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
        word = max(re.findall(r"[^\W\d_]{4,}", text), key=len)
        hits = db.execute(
            "SELECT rowid FROM passages_fts WHERE passages_fts MATCH ?", (f'"{word}"',)
        ).fetchall()
        assert (rowid,) in hits, (word, rowid)
    finally:
        db.close()


def test_sigkill_mid_index_leaves_a_consistent_index_and_rerun_completes(tmp_path: Path) -> None:
    directory = tmp_path / "index"
    seen_articles = []
    # Kill right after the 1st, 3rd and 6th commits of successive runs.
    for target in (1, 3, 6):
        before = _generation(directory)
        proc = start_index_add("--index", str(directory))
        deadline = time.monotonic() + 300
        while _generation(directory) < before + target and proc.poll() is None:
            assert time.monotonic() < deadline, "indexing made no progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        EmbeddedStore(directory, "all-MiniLM-L6-v2", 384).close()  # reopen: recovery runs here
        articles, passages = assert_consistent(directory)
        assert passages > 0
        assert_fts_works(directory)
        seen_articles.append(articles)
    assert seen_articles == sorted(seen_articles)

    done = start_index_add("--index", str(directory))
    out, err = done.communicate(timeout=900)
    assert done.returncode == 0, err.decode()
    articles, passages = assert_consistent(directory)
    assert articles == 12
    again = start_index_add("--index", str(directory))
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0
    assert "12 unchanged" in out.decode() and "embedded 0 passages" in out.decode()
    assert assert_consistent(directory) == (12, passages)
    assert_fts_works(directory)
