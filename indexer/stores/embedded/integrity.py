"""Checksums of what the index stores and derives, and the full check behind ``qa-index check``.

Every article and passage row carries a SHA-256 of its stored fields (a passage's covers its
vector too), checked whenever the answer path reads the row. The FAISS file and the BM25
files are derived from SQLite; their checksums are recorded in SQLite's ``meta`` table when
they are written and checked when they are opened. A checksum proves that a row or a file is
what this program wrote; it cannot vouch for what was already there when it was recorded
(an index from an older version gets its checksums once, on its first open).

:func:`check_index` verifies everything, read-only: SQLite's own integrity check, FTS5 against
its content table, every row against its checksum, every passage against its article's text,
the FAISS file against its checksum and against the vectors in SQLite, the BM25 files against
theirs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

log = logging.getLogger(__name__)

FAISS_CHECKSUMS_KEY = "faiss_checksums"  # meta: JSON list of the checksums a valid file may have
BM25_CHECKSUMS_KEY = "bm25_checksums"  # meta: JSON {"generation": g, "files": {name: sha256}}
_NONE = b"\xff"  # a NULL field: no UTF-8 string encodes to this one byte
VECTOR_MIN_COSINE = 0.99  # FAISS's fp16 / 8-bit codes against the fp32 vectors in SQLite
MAX_FINDINGS = 200  # per kind; the count is kept past it


def digest(*parts: str | bytes | int | None) -> str:
    """SHA-256 (hex) of ``parts``, each length-prefixed so no two field lists collide."""
    h = hashlib.sha256()
    for part in parts:
        if part is None:
            data = _NONE
        elif isinstance(part, int):
            data = str(part).encode()
        elif isinstance(part, str):
            data = part.encode("utf-8")
        else:
            data = part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def article_checksum(
    article_id: str | bytes,
    title: str | bytes,
    url: str | bytes | None,
    text: str | bytes,
    meta: str | bytes,
    source: str | bytes | None,
) -> str:
    """The checksum of an article row (``meta`` as stored: its JSON text)."""
    return digest(article_id, title, url, text, meta, source)


def passage_checksum(
    passage_id: str | bytes,
    article_id: str | bytes,
    start: int,
    end: int,
    text: str | bytes,
    vector: bytes,
) -> str:
    """The checksum of a passage row, its vector's bytes included."""
    return digest(passage_id, article_id, start, end, text, vector)


def file_checksum(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def bytes_checksum(data: bytes | np.ndarray) -> str:
    buffer = data if isinstance(data, bytes) else np.ascontiguousarray(data).data
    return hashlib.sha256(buffer).hexdigest()


def decode(value: bytes | str | None) -> str | None:
    """A column read as bytes, as text; raises UnicodeDecodeError on damaged bytes."""
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8")


# ---- the full check ------------------------------------------------------------------------
Kind = Literal["sqlite", "fts", "article", "passage", "faiss", "bm25"]


@dataclass
class Finding:
    """One problem: what (``kind``, ``id``) and why. ``repairable``: re-derivable from SQLite
    (a passage from its intact article, a derived file from the rows)."""

    kind: Kind
    id: str | None
    problem: str
    repairable: bool
    article: str | None = None  # a passage's article (re-derived from it when intact)


@dataclass
class CheckReport:
    articles: int = 0
    passages: int = 0
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # findings per kind, past MAX_FINDINGS
    notes: list[str] = field(default_factory=list)  # not damage: e.g. BM25 not built yet

    @property
    def ok(self) -> bool:
        return not self.counts

    def add(
        self,
        kind: Kind,
        id: str | None,
        problem: str,
        *,
        repairable: bool,
        article: str | None = None,
    ) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] <= MAX_FINDINGS:
            self.findings.append(Finding(kind, id, problem, repairable, article))

    def ids(self, kind: Kind) -> set[str]:
        return {f.id for f in self.findings if f.kind == kind and f.id is not None}

    def to_json(self) -> dict:
        return {"ok": self.ok, **asdict(self)}


def check_index(directory: Path, dim: int) -> CheckReport:
    """Verify the index in ``directory`` without changing it (see the module docstring).

    Args:
        directory: the index directory.
        dim: the embedding dimension the vectors must have.
    """
    from indexer.stores.embedded.bm25 import LEXICAL_DIR  # they import this module
    from indexer.stores.embedded.records import DB_NAME
    from indexer.stores.embedded.vectors import FAISS_NAME

    report = CheckReport()
    db_path = directory / DB_NAME
    if not db_path.is_file():
        report.add("sqlite", None, "the index database is missing", repairable=False)
        return report
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        report.add("sqlite", None, f"cannot be opened: {exc}", repairable=False)
        return report
    db.text_factory = bytes  # damaged text must not stop the walk: it is decoded row by row
    try:
        try:
            problems = [
                r[0].decode("utf-8", "replace") if isinstance(r[0], bytes) else str(r[0])
                for r in db.execute("PRAGMA integrity_check(100)")
            ]
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            report.add("sqlite", None, f"not readable as a database: {exc}", repairable=False)
            return report
        if problems != ["ok"]:
            for problem in problems:
                # REINDEX rebuilds an index from its table; a damaged table it cannot mend.
                report.add("sqlite", None, problem, repairable=" index " in f" {problem} ")
        meta = _meta(db, report)
        rowids = _check_rows(db, dim, report)
        _check_fts(db_path, report)
        try:
            _check_faiss(directory / FAISS_NAME, db, meta, rowids, dim, report)
        except (sqlite3.DatabaseError, ValueError, OSError) as exc:
            report.add("faiss", None, f"could not be compared with SQLite: {exc}", repairable=True)
        try:
            _check_bm25(directory / LEXICAL_DIR, meta, rowids, report)
        except (ValueError, OSError) as exc:
            report.add("bm25", None, f"could not be checked: {exc}", repairable=True)
    finally:
        db.close()
    return report


def _meta(db: sqlite3.Connection, report: CheckReport) -> dict[str, str]:
    try:
        return {
            decode(k) or "": decode(v) or "" for k, v in db.execute("SELECT key, value FROM meta")
        }
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        report.add("sqlite", "meta", f"the meta table is unreadable: {exc}", repairable=False)
        return {}


def _rows(db: sqlite3.Connection, sql: str, args: Iterable = ()) -> Iterator[tuple]:
    """Rows of ``sql``; a read error ends the walk with the error (the caller reports it)."""
    cursor = db.execute(sql, list(args))
    while True:
        row = cursor.fetchone()
        if row is None:
            return
        yield row


def _check_rows(db: sqlite3.Connection, dim: int, report: CheckReport) -> np.ndarray:
    """Articles and passages against their checksums, passages against their articles' text.
    Returns the passage rowids (for the derived files)."""
    texts: dict[str, str] = {}  # intact articles' text, only while their passages are checked
    article_ids: list[str] = []
    try:
        for rowid, raw_id in _rows(db, "SELECT rowid, id FROM articles ORDER BY id"):
            try:
                article_ids.append(raw_id.decode("utf-8"))
            except UnicodeDecodeError:
                report.add(
                    "article", f"rowid {rowid}", "its id is not valid UTF-8", repairable=False
                )
    except sqlite3.DatabaseError as exc:
        report.add("article", None, f"the articles table is unreadable: {exc}", repairable=False)
    report.articles = len(article_ids)
    seen_rowids: list[int] = []
    for article_id in article_ids:
        texts.clear()
        try:
            row = db.execute(
                "SELECT id, title, url, text, meta, source, checksum FROM articles WHERE id=?",
                (article_id,),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            report.add("article", article_id, f"unreadable: {exc}", repairable=False)
            row = None
        if row is not None:
            problem = _article_problem(row)
            if problem:
                report.add("article", article_id, problem, repairable=False)
            else:
                texts[article_id] = row[3].decode("utf-8")
        try:
            passages = db.execute(
                "SELECT rowid, id, article_id, start, end, text, vector, checksum FROM passages "
                "WHERE article_id=?",
                (article_id,),
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            report.add("passage", f"of {article_id}", f"unreadable: {exc}", repairable=True)
            continue
        for passage in passages:
            seen_rowids.append(int(passage[0]))
            problem = _passage_problem(passage, dim, texts.get(article_id))
            if problem:
                # Re-derivable when its article is intact: split and embedded again.
                report.add(
                    "passage",
                    str(passage[0]),
                    problem,
                    repairable=article_id in texts,
                    article=article_id,
                )
    try:
        total = db.execute("SELECT count(*) FROM passages").fetchone()[0]
        orphans = db.execute(
            "SELECT rowid FROM passages WHERE article_id NOT IN (SELECT id FROM articles)"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        report.add("passage", None, f"the passages table is unreadable: {exc}", repairable=False)
        total, orphans = len(seen_rowids), []
    for (rowid,) in orphans:
        report.add("passage", str(rowid), "its article is not in the index", repairable=True)
        seen_rowids.append(int(rowid))
    report.passages = int(total)
    return np.unique(np.array(seen_rowids, dtype=np.int64))


def _article_problem(row: tuple) -> str | None:
    try:
        fields = [decode(v) for v in row[:6]]
        checksum = decode(row[6])
    except UnicodeDecodeError:
        return "a field is not valid UTF-8"
    if checksum is None:
        return "no checksum recorded (written by an older version): qa-index repair records it"
    if article_checksum(*row[:6]) != checksum:
        return "does not match its checksum"
    try:
        json.loads(fields[4] or "")
    except ValueError:
        return "its meta is not valid JSON"
    return None


def _passage_problem(row: tuple, dim: int, article_text: str | None) -> str | None:
    rowid, pid, article_id, start, end, text, vector, checksum = row
    try:
        passage_text = decode(text) or ""
        decode(pid), decode(article_id)
        checksum = decode(checksum)
    except UnicodeDecodeError:
        return "a field is not valid UTF-8"
    if not isinstance(vector, bytes) or len(vector) != dim * 4:
        return "its vector has the wrong size"
    if not (isinstance(start, int) and isinstance(end, int)):
        return "its offsets are not numbers"
    if checksum is None:
        return "no checksum recorded (written by an older version): qa-index repair records it"
    if passage_checksum(pid, article_id, start, end, text, vector) != checksum:
        return "does not match its checksum"
    if article_text is not None and article_text[start:end] != passage_text:
        return "its text is not its article's text at its offsets"
    values = np.frombuffer(vector, dtype=np.float32).astype(np.float64)
    if not np.isfinite(values).all() or abs(float(values @ values) - 1.0) > 1e-3:
        return "its vector is not a unit vector"
    return None


def _check_fts(db_path: Path, report: CheckReport) -> None:
    """FTS5 against its content table ('integrity-check' is an INSERT, so it needs a
    read-write connection; it changes nothing, and the transaction is rolled back)."""
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.execute("BEGIN")
        db.execute("INSERT INTO passages_fts(passages_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError as exc:
        report.add(
            "fts", None, f"the full-text index does not match the passages: {exc}", repairable=True
        )
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")
        db.close()


def _check_faiss(
    path: Path,
    db: sqlite3.Connection,
    meta: dict[str, str],
    rowids: np.ndarray,
    dim: int,
    report: CheckReport,
) -> None:
    if not path.is_file():
        report.add("faiss", None, "the vector file is missing", repairable=True)
        return
    accepted = json.loads(meta.get(FAISS_CHECKSUMS_KEY) or "[]")
    data = np.fromfile(path, dtype=np.uint8)
    if accepted and bytes_checksum(data) not in accepted:
        report.add("faiss", None, "the vector file does not match its checksum", repairable=True)
    elif not accepted:
        report.notes.append("no checksum recorded for the vector file yet (older version)")
    try:
        index = faiss.deserialize_index(data)
    except RuntimeError as exc:
        report.add("faiss", None, f"the vector file is unreadable: {exc}", repairable=True)
        return
    del data
    if index.d != dim:
        report.add("faiss", None, f"holds {index.d}-dim vectors, not {dim}", repairable=True)
        return
    from indexer.stores.embedded.vectors import faiss_ids  # it imports this module

    ids = np.unique(faiss_ids(index))
    missing = np.setdiff1d(rowids, ids, assume_unique=True)
    if len(missing):
        report.add("faiss", None, f"{len(missing)} passages have no vector", repairable=True)
    stale = np.setdiff1d(ids, rowids, assume_unique=True)
    if len(stale):
        report.notes.append(f"{len(stale)} vectors of deleted passages wait for a rebuild (HNSW)")
    wrong = _mismatched_vectors(index, db, np.intersect1d(rowids, ids, assume_unique=True), dim)
    if wrong:
        report.add(
            "faiss",
            None,
            f"{wrong} vectors differ from the passages' vectors in SQLite",
            repairable=True,
        )


def _mismatched_vectors(
    index: faiss.Index, db: sqlite3.Connection, rowids: np.ndarray, dim: int
) -> int:
    """How many of ``rowids``' vectors in FAISS differ from SQLite's (cosine under
    :data:`VECTOR_MIN_COSINE`)."""
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()
    wrong = 0
    for lo in range(0, len(rowids), 10_000):
        chunk = rowids[lo : lo + 10_000].tolist()
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT rowid, vector FROM passages WHERE rowid IN ({marks})", chunk
        ).fetchall()
        rows = [r for r in rows if isinstance(r[1], bytes) and len(r[1]) == dim * 4]
        if not rows:
            continue
        stored = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(-1, dim)
        held = index.reconstruct_batch(np.array([r[0] for r in rows], dtype=np.int64))
        norms = np.linalg.norm(held, axis=1) * np.linalg.norm(stored, axis=1)
        cosine = (held * stored).sum(axis=1) / np.maximum(norms, 1e-12)
        wrong += int((~(cosine >= VECTOR_MIN_COSINE)).sum())
    return wrong


def _check_bm25(
    directory: Path, meta: dict[str, str], rowids: np.ndarray, report: CheckReport
) -> None:
    generation = int(meta.get("generation") or 0)
    path = directory / str(generation)
    if not path.is_dir():
        report.notes.append("the BM25 index of the current generation is not built (FTS5 answers)")
        return
    recorded = json.loads(meta.get(BM25_CHECKSUMS_KEY) or "{}")
    if recorded.get("generation") != generation:
        report.add(
            "bm25", str(generation), "no checksums recorded for the BM25 files", repairable=True
        )
        return
    problems = verify_files(path, recorded.get("files") or {})
    for problem in problems:
        report.add("bm25", str(generation), problem, repairable=True)
    if problems:
        return
    try:
        held = np.load(path / "rowids.npy")
    except (OSError, ValueError) as exc:
        report.add("bm25", str(generation), f"unreadable: {exc}", repairable=True)
        return
    if not np.array_equal(np.unique(held), rowids):
        report.add("bm25", str(generation), "its passages are not the index's", repairable=True)


def directory_checksums(directory: Path) -> dict[str, str]:
    """SHA-256 of every file in ``directory`` (not recursive), by name."""
    return {p.name: file_checksum(p) for p in sorted(directory.iterdir()) if p.is_file()}


def verify_files(directory: Path, expected: dict[str, str]) -> list[str]:
    """What is wrong with the files of ``directory`` against ``expected`` checksums."""
    problems = []
    present = {p.name for p in directory.iterdir() if p.is_file()}
    for name, checksum in sorted(expected.items()):
        if name not in present:
            problems.append(f"{name} is missing")
        elif file_checksum(directory / name) != checksum:
            problems.append(f"{name} does not match its checksum")
    problems += [f"{name} is not one of its files" for name in sorted(present - set(expected))]
    return problems
