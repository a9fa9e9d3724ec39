"""Bad inputs to the indexer, through the real ``qa-index add`` (typer's CliRunner on
``indexer.cli.app``): the good files are indexed, each bad one is named (with its line, for
JSONL) in the summary, the exit code is 1, and nothing already indexed is lost."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import indexer.cli
from indexer.stores.embedded.records import DB_NAME
from tests.indexer.test_store import assert_consistent
from tests.reliability.conftest import SMALL_ARTICLES

GOOD_HTML = """<!DOCTYPE html><html><head><title>Lighthouse restored</title></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Lighthouse restored</h1>
<p>The old lighthouse on Gull Point shines again after volunteers spent four winters
restoring its lamp, its brass fittings and the 118 steps of its spiral staircase.</p>
<p>The keeper's cottage next to it will open as a small museum in the spring.</p>
</article><footer>(c) The Coast Gazette</footer></body></html>"""

NAV_ONLY_HTML = """<!DOCTYPE html><html><head><script>var cfg = {a: 1};</script>
<style>nav { color: red }</style></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li></ul></nav>
<noscript>Please enable JavaScript to use this site.</noscript>
<div id="root"></div><script src="/bundle.js"></script><script>render(cfg)</script>
</body></html>"""


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


def qa_index(*args: str, env: dict[str, str] | None = None) -> Run:
    """``qa-index ARGS`` in process; rich prints unwrapped so messages can be matched."""
    indexer.cli.console = Console(width=10_000)
    indexer.cli.err = Console(width=10_000, stderr=True)
    env = {"QA_READER": "heuristic", **(env or {})}  # adding needs no reader model
    result = CliRunner().invoke(indexer.cli.app, list(args), env=env, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def article_ids(index: Path) -> set[str]:
    db = sqlite3.connect(index / DB_NAME)
    try:
        return {r[0] for r in db.execute("SELECT id FROM articles")}
    finally:
        db.close()


def article_text(index: Path, article_id: str) -> str:
    db = sqlite3.connect(index / DB_NAME)
    try:
        return db.execute("SELECT text FROM articles WHERE id=?", (article_id,)).fetchone()[0]
    finally:
        db.close()


def fts_finds(index: Path, word: str) -> set[str]:
    """Article ids whose passages FTS5 MATCHes ``word``; also checks the FTS index itself."""
    db = sqlite3.connect(index / DB_NAME)
    try:
        db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('integrity-check')")
        rows = db.execute(
            "SELECT p.article_id FROM passages_fts f JOIN passages p ON p.rowid = f.rowid "
            "WHERE passages_fts MATCH ?",
            (f'"{word}"',),
        ).fetchall()
        return {r[0] for r in rows}
    finally:
        db.close()


def write_mixed_folder(folder: Path) -> None:
    """Good and bad files side by side (each bad one a different way to be bad)."""
    (folder / "sub").mkdir(parents=True)
    # good
    (folder / "good.md").write_text(
        "# Tram line opens\n\nThe new tram line carried 9,400 passengers on its first day.",
        encoding="utf-8",
    )
    (folder / "sub" / "lighthouse.html").write_text(GOOD_HTML, encoding="utf-8")
    (folder / "latin1.txt").write_bytes(
        "Fête du village\n\nLa fête a réuni 640 habitants près de l'église, à Noël.".encode(
            "latin-1"
        )
    )
    (folder / "broken-utf8.txt").write_bytes(
        "Café report\n\nThe café sold 75 crêpes on Sunday.".encode() + b" Cut off here: \xe2\x82\n"
    )
    # bad
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_text(" \n\t\n", encoding="utf-8")
    rng = random.Random(7)
    (folder / "binary.txt").write_bytes(bytes(rng.randrange(256) for _ in range(4096)) + b"\0\0")
    (folder / "nav-only.html").write_text(NAV_ONLY_HTML, encoding="utf-8")
    lines = [
        json.dumps({"id": "j-good", "title": "Jay", "text": "The jay is a bird of 34 cm."}),
        '{"id": "j-broken", "text": "unterminated',
        json.dumps({"id": "j-notext", "title": "No text here"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "j-empty", "text": "   "}),
        json.dumps({"id": "j-last", "title": "Owl", "text": "The owl hunted 12 mice."}),
    ]
    jsonl = "\n".join(lines).encode() + b'\n{"id": "j-latin1", "text": "caf\xe9"}\n'
    (folder / "batch.jsonl").write_bytes(jsonl)


def test_mixed_folder_indexes_the_good_and_names_the_bad(small_index_copy: Path) -> None:
    index = small_index_copy
    before = article_ids(index)
    folder = index.parent / "incoming"
    write_mixed_folder(folder)
    missing = index.parent / "no-such-file.txt"

    run = qa_index("add", str(folder), str(missing), "--index", str(index))

    assert run.exit_code == 1, run
    # the good ones are indexed (and what was there before is still there)
    good = {"good", "sub/lighthouse", "latin1", "broken-utf8", "j-good", "j-last"}
    assert article_ids(index) == before | good
    assert "6 added" in run.stdout
    # every bad one is named, with its line for JSONL, under a count
    expected = [
        f"{folder / 'empty.txt'}: file is empty",
        f"{folder / 'blank.md'}: file is empty",
        f"{folder / 'binary.txt'}: looks like a binary file",
        f"{folder / 'nav-only.html'}: no main text found in the HTML",
        f"{folder / 'batch.jsonl'}:2: invalid JSON on line 2",
        f'{folder / "batch.jsonl"}:3: line 3: missing "text"',
        f"{folder / 'batch.jsonl'}:4: line 4: expected a JSON object, got list",
        f'{folder / "batch.jsonl"}:5: line 5: missing "text"',
        f"{folder / 'batch.jsonl'}:7: line 7 is not valid UTF-8 (byte 32)",
        f"{missing}: path does not exist",
    ]
    assert f"{len(expected)} could not be loaded:" in run.stderr
    for message in expected:
        assert message in run.stderr, (message, run.stderr)
    # files that were read in another encoding are indexed, and say so
    assert f"{folder / 'latin1.txt'}: not clean UTF-8; read as cp1252" in run.stderr
    broken = folder / "broken-utf8.txt"
    assert f"{broken}: not clean UTF-8; read as utf-8 with an invalid byte sequence" in run.stderr
    assert "La fête a réuni 640 habitants près de l'église" in article_text(index, "latin1")
    assert "The café sold 75 crêpes on Sunday." in article_text(index, "broken-utf8")
    # the index is consistent: FAISS ids == passage rows == FTS rows, and FTS5 matches
    assert_consistent(index)
    assert fts_finds(index, "lighthouse") == {"sub/lighthouse"}
    assert fts_finds(index, "capybaras") == {"zoo"}
    # the add also rebuilt the BM25 index for the new generation (checked above against SQLite)
    stats = json.loads(qa_index("stats", "--index", str(index)).stdout)
    assert stats["bm25_current"] is True and stats["passages"] == stats["vectors"]

    # re-running: the good ones are unchanged, the bad ones named again
    again = qa_index("add", str(folder), "--index", str(index))
    assert again.exit_code == 1
    assert "0 added, 0 updated, 6 unchanged; embedded 0 passages" in again.stdout
    assert f"{len(expected) - 1} could not be loaded:" in again.stderr
    assert article_ids(index) == before | good


def test_a_50_mb_article_is_refused_by_name_and_the_limit_is_configurable(
    small_index_copy: Path,
) -> None:
    index = small_index_copy
    folder = index.parent / "big"
    folder.mkdir()
    huge = folder / "huge.txt"
    with huge.open("w", encoding="utf-8") as f:
        f.write("A very long article\n\n")
        sentence = "The committee met again and nothing at all was decided that day. "
        for _ in range(50_000_000 // len(sentence) + 1):
            f.write(sentence)
    small = folder / "small.md"
    small.write_text("# Small\n\nA small article of 5 KB. " + "Words and more words. " * 230)
    assert huge.stat().st_size > 50_000_000 and 5_000 < small.stat().st_size < 6_000

    run = qa_index("add", str(folder), "--index", str(index))
    assert run.exit_code == 1
    assert f"{huge}: article is 50 MB; the limit is 20 MB (QA_MAX_ARTICLE_BYTES)" in run.stderr
    assert "1 added" in run.stdout and "small" in article_ids(index)

    # QA_MAX_ARTICLE_BYTES lowers (or raises) the limit
    small.write_text(small.read_text() + " Changed.")
    run = qa_index("add", str(small), "--index", str(index), env={"QA_MAX_ARTICLE_BYTES": "1000"})
    assert run.exit_code == 1
    size = f"{small.stat().st_size / 1000:.1f} KB"
    assert f"{small}: article is {size}; the limit is 1 KB (QA_MAX_ARTICLE_BYTES)" in run.stderr
    assert "Changed." not in article_text(index, "small")  # the stored version is kept
    assert_consistent(index)


def test_duplicate_ids_in_one_batch_keep_the_last_and_warn(small_index_copy: Path) -> None:
    index = small_index_copy
    batch = index.parent / "dupes.jsonl"
    rows = [
        {"id": "dup", "title": "First", "text": "The first version says 1 apple."},
        {"id": "other", "title": "Other", "text": "Another article about 7 pears."},
        {"id": "dup", "title": "Second", "text": "The second version says 2 apples."},
        {"id": "zoo", "title": "Zoo", "text": "A new zoo text, given twice."},
        {"id": "zoo", "title": "Zoo", "text": "The zoo's final text: 4 capybaras now."},
    ]
    batch.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")

    run = qa_index("add", str(batch), "--index", str(index))
    assert run.exit_code == 0, run
    assert "duplicate ids in this batch (the last one was kept): dup, zoo" in run.stderr
    assert "2 added, 1 updated" in run.stdout
    assert article_text(index, "dup") == "The second version says 2 apples."
    assert article_text(index, "zoo") == "The zoo's final text: 4 capybaras now."
    assert_consistent(index)
    assert fts_finds(index, "apple") == {"dup"}  # porter stems "apples"; no trace of version 1
    assert fts_finds(index, "first") == set()


@pytest.mark.parametrize("kind", ["missing", "empty-folder", "unsupported"])
def test_nothing_to_load_is_an_error_and_changes_nothing(small_index_copy: Path, kind: str):
    index = small_index_copy
    target = index.parent / "target"
    if kind == "empty-folder":
        target.mkdir()
        message = "folder has no article files"
    elif kind == "unsupported":
        target = target.with_suffix(".pdf")
        target.write_bytes(b"%PDF-1.7 ...")
        message = "unsupported file type '.pdf'"
    else:
        message = "path does not exist"
    run = qa_index("add", str(target), "--index", str(index))
    assert run.exit_code == 1
    assert f"{target}: {message}" in run.stderr
    assert article_ids(index) == {a.id for a in SMALL_ARTICLES} | {"msn-pakistan-islamic-state"}
    assert_consistent(index)
