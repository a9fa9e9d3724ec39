"""The embedded store's records: one SQLite database holding articles, passages (with their
vectors), the FTS5 full-text table, the ``meta`` table (schema version, model, generation,
the derived files' checksums) and the side tables (URL sources, feedback).

SQLite is the source of truth: every write is one transaction, and the FAISS and BM25 files
are derived from it. Article and passage rows carry a checksum, checked when the answer path
reads them (:mod:`indexer.stores.embedded.integrity`); a row that fails is flagged, logged and
left out until the index changes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from core.types import Article, Passage
from indexer.stores.base import (
    ArticleSummary,
    FeedbackRecord,
    IndexDamagedError,
    IndexMismatchError,
    StoredPassage,
    Upsert,
    UrlSource,
)
from indexer.stores.embedded.integrity import article_checksum, decode, passage_checksum

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
DB_NAME = "index.sqlite"
DF_CACHE_WORDS = 100_000  # document frequencies kept between writes
WITHIN_CACHE_SIZE = 32  # date ranges whose passage rowids are kept between writes
CHECKSUM_BATCH = 20_000  # rows per transaction when an older index gets its checksums

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    url TEXT,
    text TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    source TEXT,
    content_hash TEXT NOT NULL,
    added_at REAL NOT NULL,
    checksum TEXT
);
CREATE INDEX IF NOT EXISTS articles_url ON articles(url);
CREATE TABLE IF NOT EXISTS passages (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL,
    checksum TEXT
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    text, content='passages', content_rowid='rowid', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS passages_ai AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS passages_ad AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
"""

# Each step takes an index from the version before it to its own, in the transaction that
# records the new version; a new index is made by _SCHEMA (version 1) and every step.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        # The publish date (indexer.dates' sortable ISO 8601 form), for since/until.
        "ALTER TABLE articles ADD COLUMN published TEXT",
        "CREATE INDEX IF NOT EXISTS articles_published ON articles(published)",
        # Every URL fetched for the index (pages, feeds, sitemaps): what a conditional
        # request sends, the body hash, the feed or sitemap it came from, and whether
        # `qa-index refresh` re-reads it (root: a URL given to `qa-index add`).
        """CREATE TABLE IF NOT EXISTS url_sources (
            url TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            root INTEGER NOT NULL DEFAULT 0,
            parent TEXT,
            allow_private INTEGER NOT NULL DEFAULT 0,
            etag TEXT,
            last_modified TEXT,
            content_hash TEXT,
            article_id TEXT,
            checked_at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS url_sources_parent ON url_sources(parent)",
        # What readers said of answers; kept with the index, exported as a test set.
        """CREATE TABLE IF NOT EXISTS feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at REAL NOT NULL,
            question TEXT NOT NULL,
            answer_text TEXT NOT NULL,
            article_id TEXT NOT NULL,
            start INTEGER,
            helpful INTEGER NOT NULL,
            comment TEXT,
            channel TEXT NOT NULL
        )""",
    ),
}

# Checksummed reads: text columns as bytes, so damaged UTF-8 is a finding, not an exception.
_PASSAGE_COLUMNS = (
    "rowid, CAST(id AS BLOB), CAST(article_id AS BLOB), start, end, CAST(text AS BLOB), vector, "
    "CAST(checksum AS BLOB)"
)
_ARTICLE_COLUMNS = (
    "CAST(id AS BLOB), CAST(title AS BLOB), CAST(url AS BLOB), CAST(text AS BLOB), "
    "CAST(meta AS BLOB), CAST(source AS BLOB), CAST(checksum AS BLOB), published"
)
_URL_SOURCE_COLUMNS = (
    "url, kind, root, parent, allow_private, etag, last_modified, content_hash, article_id,"
    " checked_at"
)


def fts_query(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: the words, quoted, OR-ed."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def _url_source(row: Sequence) -> UrlSource:
    return UrlSource(row[0], row[1], bool(row[2]), row[3], bool(row[4]), *row[5:])


class Records:
    """The SQLite database at ``path``, for vectors of ``model`` (``dim`` wide).

    ``lock`` (the store's, shared with its vector file) guards the main connection ``db``;
    full-text reads get a connection per thread (:meth:`text_db`), so BM25 runs while another
    thread searches FAISS (the retriever overlaps the two) instead of queueing on ``lock``.
    """

    def __init__(self, path: Path, model: str, dim: int, lock: threading.RLock) -> None:
        self.path = path
        self.model, self.dim = model, dim
        self.lock = lock
        self.db = self.connect()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        # Rows that failed their checksum since the last generation change: left out of answers.
        self._flagged_passages: set[int] = set()
        self._flagged_articles: set[str] = set()
        self._flag_lock = threading.Lock()
        self._df_cache: dict[str, int] = {}
        self._df_generation = -1
        self._df_total = 0
        self._within_cache: dict[tuple[int, str | None, str | None], np.ndarray] = {}
        self._text_local = threading.local()
        self.text_dbs: list[sqlite3.Connection] = []
        self._text_lock = threading.Lock()  # the connection list and the DF cache

    def connect(self) -> sqlite3.Connection:
        """A new connection (autocommit: transactions are explicit)."""
        return sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)

    def text_db(self) -> sqlite3.Connection:
        """This thread's read connection for full-text queries."""
        db = getattr(self._text_local, "db", None)
        if db is None:
            db = self.connect()
            self._text_local.db = db
            with self._text_lock:
                self.text_dbs.append(db)
        return db

    def close(self) -> None:
        with self.lock:
            self.db.close()
        with self._text_lock:
            for db in self.text_dbs:
                db.close()
            self.text_dbs.clear()

    # ---- schema and meta -----------------------------------------------------------------
    def init_schema(self, location: Path) -> None:
        """Create or migrate the schema; ``location`` names the index in errors.

        Raises:
            IndexMismatchError: a newer schema, or another model's vectors.
        """
        existing = dict(self.db.execute("SELECT name, type FROM sqlite_master").fetchall())
        if "meta" in existing:
            meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
            if int(meta.get("schema_version", SCHEMA_VERSION)) > SCHEMA_VERSION:
                reason = (
                    f"the index has schema version {meta['schema_version']}, this program uses "
                    f"{SCHEMA_VERSION} (older)"
                )
                raise IndexMismatchError(
                    f"index at {location}: {reason}: upgrade the program, or rebuild the "
                    "index into a new directory (qa-index add ... --index NEW_DIR)",
                    reason,
                )
            if (
                meta.get("model", self.model) != self.model
                or int(meta.get("dim", self.dim)) != self.dim
            ):
                reason = (
                    f"the index was built with model {meta.get('model')} (dim {meta.get('dim')}), "
                    f"but the configured model is {self.model} (dim {self.dim})"
                )
                raise IndexMismatchError(
                    f"index at {location}: {reason}: use the same model or rebuild the index",
                    reason,
                )
        self.db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        with self.transaction() as db:
            for key, value in (
                ("schema_version", "1"),  # what _SCHEMA makes; _MIGRATIONS go on from there
                ("model", self.model),
                ("dim", str(self.dim)),
            ):
                db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')")
            version = int(
                db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
            )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step]:
                    db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(
                    "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
                )
        if self.meta_value("row_checksums") != "1":
            self.record_checksums()

    def record_checksums(self) -> None:
        """Record the checksums of rows that have none: once, on the first open of an index
        written before row checksums (in batches, so an interrupted run goes on where it
        stopped), and by ``qa-index repair`` for rows an older version wrote since."""
        for table in ("articles", "passages"):
            columns = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            if "checksum" not in columns:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN checksum TEXT")
        todo = self.db.execute(
            "SELECT (SELECT count(*) FROM articles WHERE checksum IS NULL), "
            "(SELECT count(*) FROM passages WHERE checksum IS NULL)"
        ).fetchone()
        if any(todo):
            log.warning(
                "recording checksums for %d articles and %d passages written by an older "
                "version (once)",
                *todo,
            )
        for table, sql, checksum in (
            (
                "articles",
                f"SELECT rowid, {_ARTICLE_COLUMNS} FROM articles",
                lambda r: article_checksum(*r[1:7]),
            ),
            (
                "passages",
                f"SELECT {_PASSAGE_COLUMNS} FROM passages",
                lambda r: passage_checksum(*r[1:7]),
            ),
        ):
            while True:
                with self.transaction() as db:
                    rows = db.execute(
                        f"{sql} WHERE checksum IS NULL LIMIT {CHECKSUM_BATCH}"
                    ).fetchall()
                    db.executemany(
                        f"UPDATE {table} SET checksum=? WHERE rowid=?",
                        [(checksum(r), r[0]) for r in rows],
                    )
                if len(rows) < CHECKSUM_BATCH:
                    break
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('row_checksums', '1')")

    def meta_value(self, key: str, db: sqlite3.Connection | None = None) -> str | None:
        row = (db or self.db).execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str, db: sqlite3.Connection | None = None) -> None:
        """Set one meta value in a transaction of its own (the caller holds no transaction)."""
        db = db or self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            # A COMMIT that fails (a full disk) leaves the transaction open: end it.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def generation(self, db: sqlite3.Connection | None = None) -> int:
        """The stored generation (every write to the index adds one)."""
        row = (db or self.db).execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    # ---- writes --------------------------------------------------------------------------
    def write(
        self, upserts: Sequence[Upsert], deletes: Sequence[str]
    ) -> tuple[list[int], list[int], list[np.ndarray]]:
        """Replace articles (with their passages and vectors) and delete others, in one
        transaction that adds one to the generation (the lock held).

        Returns:
            (rowids of the passages gone, rowids of the new ones, their vectors).
        """
        new_ids: list[int] = []
        new_vectors: list[np.ndarray] = []
        old_rowids: list[int] = []
        with self.transaction() as db:
            replaced = [a.id for a, _, _ in upserts] + list(deletes)
            for article_id in replaced:
                old_rowids += [
                    r[0]
                    for r in db.execute(
                        "SELECT rowid FROM passages WHERE article_id=?", (article_id,)
                    )
                ]
                db.execute("DELETE FROM passages WHERE article_id=?", (article_id,))
                db.execute("DELETE FROM articles WHERE id=?", (article_id,))
            now = time.time()
            for article, passages, vectors in upserts:
                fields = (
                    article.id,
                    article.title,
                    article.url,
                    article.text,
                    json.dumps(article.meta, ensure_ascii=False),
                    article.source,
                )
                db.execute(
                    "INSERT INTO articles(id, title, url, text, meta, source, content_hash,"
                    " added_at, checksum, published) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *fields,
                        article.content_hash,
                        now,
                        article_checksum(*fields),
                        article.published,
                    ),
                )
                vectors = np.ascontiguousarray(vectors, dtype=np.float32)
                for passage, vector in zip(passages, vectors, strict=True):
                    row = (
                        passage.id,
                        article.id,
                        passage.start,
                        passage.end,
                        passage.text,
                        vector.tobytes(),
                    )
                    cur = db.execute(
                        "INSERT OR IGNORE INTO passages(id, article_id, start, end, text,"
                        " vector, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (*row, passage_checksum(*row)),
                    )
                    if cur.rowcount:
                        assert cur.lastrowid is not None  # set by the row just inserted
                        new_ids.append(cur.lastrowid)
                        new_vectors.append(vector)
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
        return old_rowids, new_ids, new_vectors

    def delete_rows(
        self, article_rowids: Sequence[int], passage_rowids: Sequence[int]
    ) -> list[int]:
        """Delete rows by rowid (damaged ones, whose ids may be unreadable), with the
        passages of the articles, adding one to the generation; returns the passage rowids
        deleted (the lock held)."""
        with self.transaction() as db:
            for rowid in article_rowids:
                row = db.execute(
                    "SELECT CAST(id AS BLOB) FROM articles WHERE rowid=?", (rowid,)
                ).fetchone()
                if row is not None:
                    passage_rowids = [
                        *passage_rowids,
                        *(
                            r[0]
                            for r in db.execute(
                                "SELECT rowid FROM passages WHERE CAST(article_id AS BLOB)=?",
                                (row[0],),
                            )
                        ),
                    ]
                db.execute("DELETE FROM articles WHERE rowid=?", (rowid,))
            for rowid in passage_rowids:
                db.execute("DELETE FROM passages WHERE rowid=?", (rowid,))
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
        return list(passage_rowids)

    def rebuild_indexes(self) -> None:
        """Rebuild SQLite's indexes from their tables (REINDEX) and the full-text index from
        the passages."""
        with self.lock:
            self.db.execute("REINDEX")
            with self.transaction() as db:
                db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")

    # ---- vectors -------------------------------------------------------------------------
    def rowids(self, db: sqlite3.Connection | None = None) -> np.ndarray:
        rows = (db or self.db).execute("SELECT rowid FROM passages")
        return np.array([r[0] for r in rows], dtype=np.int64)

    def passage_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM passages").fetchone()[0]

    def vectors(
        self, rowids: Sequence[int], db: sqlite3.Connection | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, vectors) of the passages with these rowids (at most 10,000 per call);
        rows that cannot be read are left out (logged)."""
        db = db or self.db
        sql = "SELECT rowid, vector FROM passages WHERE rowid IN"
        marks = ",".join("?" * len(rowids))
        try:
            rows = db.execute(f"{sql} ({marks})", list(rowids)).fetchall()
        except sqlite3.DatabaseError:
            rows = []
            for rowid in rowids:
                try:
                    rows += db.execute(f"{sql} (?)", (rowid,)).fetchall()
                except sqlite3.DatabaseError as exc:
                    log.error("passage %d cannot be read (%s): run qa-index check", rowid, exc)
        size = self.dim * 4
        damaged = [r[0] for r in rows if not isinstance(r[1], bytes) or len(r[1]) != size]
        if damaged:  # left out: qa-index check reports them, repair re-derives them
            log.error("passages %s have a vector of the wrong size (damaged)", damaged[:10])
            rows = [r for r in rows if isinstance(r[1], bytes) and len(r[1]) == size]
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, vectors.reshape(len(rows), self.dim)

    # ---- flags ---------------------------------------------------------------------------
    def flag(self, kind: str, key: object, problem: str) -> None:
        """Leave a damaged row out of answers until the index changes, and log it once."""
        with self._flag_lock:
            flagged = self._flagged_passages if kind == "passage" else self._flagged_articles
            if key in flagged:
                return
            flagged.add(key)  # type: ignore[arg-type]
        log.error(
            "%s %s in %s %s: it is left out of answers; run qa-index check",
            kind,
            key,
            self.path.name,
            problem,
        )

    def clear_flags(self) -> None:
        """The index changed (perhaps repaired): flagged rows are checked again when read."""
        with self._flag_lock:
            self._flagged_passages.clear()
            self._flagged_articles.clear()

    def flagged(self) -> tuple[int, int]:
        """(passages, articles) left out of answers as damaged since the index last changed."""
        with self._flag_lock:
            return len(self._flagged_passages), len(self._flagged_articles)

    # ---- reads ---------------------------------------------------------------------------
    def _rows_in(self, sql: str, keys: Sequence) -> list[tuple]:
        """Rows of ``sql`` + `` (?, ...)``, for ``keys`` 500 at a time."""
        rows: list[tuple] = []
        with self.lock:
            for lo in range(0, len(keys), 500):
                chunk = list(keys[lo : lo + 500])
                marks = ",".join("?" * len(chunk))
                rows += self.db.execute(f"{sql} ({marks})", chunk).fetchall()
        return rows

    def _fetch(self, sql: str, keys: Sequence, kind: str) -> list[tuple]:
        """Rows of ``sql`` + `` (?, ...)`` for ``keys``; when the batch cannot be read (a
        damaged page), row by row, flagging the keys whose row cannot be read."""
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        with self.lock:
            try:
                return self.db.execute(f"{sql} ({marks})", list(keys)).fetchall()
            except sqlite3.DatabaseError:
                rows = []
                for key in keys:
                    try:
                        rows += self.db.execute(f"{sql} (?)", (key,)).fetchall()
                    except sqlite3.DatabaseError as exc:
                        self.flag(kind, key, f"cannot be read: {exc}")
                return rows

    def article_hashes(self) -> dict[str, tuple[str, str | None]]:
        with self.lock:
            rows = self.db.execute("SELECT id, content_hash, url FROM articles").fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def stored_versions(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        sql = "SELECT id, content_hash, meta FROM articles WHERE id IN"
        return {r[0]: (r[1], r[2]) for r in self._rows_in(sql, article_ids)}

    def articles_by_url(self, urls: Sequence[str]) -> dict[str, str]:
        sql = "SELECT id, url FROM articles WHERE url IN"
        return {r[1]: r[0] for r in self._rows_in(sql, urls)}

    def existing_vectors(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        sql = "SELECT id, vector FROM passages WHERE id IN"
        rows = self._rows_in(sql, passage_ids)
        return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    def get_article(self, article_id: str) -> Article | None:
        articles = self.read_articles([article_id])
        if article_id in articles:
            return articles[article_id]
        if article_id in self._flagged_articles:
            raise IndexDamagedError(f"the stored article {article_id!r} is damaged")
        return None

    def read_articles(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The articles with these ids whose rows pass their checksum; a row that fails is
        flagged, logged and left out."""
        ids = [a for a in dict.fromkeys(article_ids) if a not in self._flagged_articles]
        found: dict[str, Article] = {}
        for row in self._fetch(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id IN", ids, "article"
        ):
            try:
                fields = [decode(v) for v in row[:6]]
                problem = None
                if row[6] is not None and article_checksum(*row[:6]).encode() != row[6]:
                    problem = "does not match its checksum"
                meta = json.loads(fields[4] or "{}") if problem is None else {}
            except (UnicodeDecodeError, ValueError, TypeError) as exc:
                problem = f"is unreadable ({type(exc).__name__})"
            article_id = (
                row[0].decode("utf-8", "replace") if isinstance(row[0], bytes) else str(row[0])
            )
            if problem is not None:
                self.flag("article", article_id, problem)
                continue
            found[article_id] = Article(
                id=fields[0],
                title=fields[1],
                url=fields[2],
                text=fields[3],
                meta=meta,
                source=fields[5],
                published=row[7] if isinstance(row[7], str) else None,
            )
        return found

    def export(self, batch: int) -> Iterator[list[Upsert]]:
        """Every readable article with its readable passages and their vectors, ``batch``
        articles at a time in id order (rows failing their checksum are flagged, left out)."""
        after = ""
        while True:
            with self.lock:
                ids = [
                    r[0]
                    for r in self.db.execute(
                        "SELECT id FROM articles WHERE id > ? ORDER BY id LIMIT ?", (after, batch)
                    )
                ]
            if not ids:
                return
            after = ids[-1]
            articles = self.read_articles(ids)
            rowids = [
                r[0]
                for r in self._rows_in(
                    "SELECT rowid FROM passages WHERE article_id IN", list(articles)
                )
            ]
            found = self.passages(rowids)
            keys = sorted(found)
            by_article: dict[str, list[tuple[Passage, np.ndarray]]] = {}
            for lo in range(0, len(keys), 10_000):
                for key, vector in zip(*self.vectors(keys[lo : lo + 10_000]), strict=True):
                    p = found[int(key)]
                    passage = Passage(
                        article_id=p.article_id, start=p.start, end=p.end, text=p.text
                    )
                    by_article.setdefault(p.article_id, []).append((passage, vector))
            out: list[Upsert] = []
            for article_id, article in articles.items():
                pairs = sorted(by_article.get(article_id, []), key=lambda pv: pv[0].start)
                vectors = (
                    np.vstack([v for _, v in pairs])
                    if pairs
                    else np.zeros((0, self.dim), np.float32)
                )
                out.append((article, [p for p, _ in pairs], vectors))
            yield out

    def list_articles(
        self, offset: int = 0, limit: int = 50, query: str | None = None
    ) -> tuple[int, list[ArticleSummary]]:
        where, args = "", []
        query = (query or "").replace("\x00", "")  # SQLite's LIKE stops at a NUL
        if query:
            where = "WHERE a.title LIKE ? ESCAPE '\\' OR a.id LIKE ? ESCAPE '\\'"
            pattern = (
                "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            args = [pattern, pattern]
        with self.lock:
            total = self.db.execute(f"SELECT count(*) FROM articles a {where}", args).fetchone()[0]
            rows = self.db.execute(
                f"""SELECT a.id, a.title, a.url, length(a.text),
                           (SELECT count(*) FROM passages p WHERE p.article_id = a.id)
                    FROM articles a {where} ORDER BY a.title COLLATE NOCASE, a.id
                    LIMIT ? OFFSET ?""",
                [*args, limit, offset],
            ).fetchall()
        return total, [ArticleSummary(r[0], r[1], r[2], r[4], r[3]) for r in rows]

    def counts(self) -> tuple[int, int]:
        with self.lock:
            articles = self.db.execute("SELECT count(*) FROM articles").fetchone()[0]
            passages = self.db.execute("SELECT count(*) FROM passages").fetchone()[0]
        return articles, passages

    def article_rowid(self, article_id: str) -> int | None:
        with self.lock:
            row = self.db.execute("SELECT rowid FROM articles WHERE id=?", (article_id,)).fetchone()
        return row[0] if row else None

    def probe_rowids(self, *, newest: bool) -> list[int]:
        """Up to 20 passage rowids: the newest, or from a random place in the index."""
        sql = "SELECT rowid FROM passages ORDER BY rowid DESC LIMIT 20"
        if not newest:
            sql = (
                "SELECT rowid FROM passages WHERE rowid >= "
                "abs(random()) % ((SELECT max(rowid) FROM passages) + 1) ORDER BY rowid LIMIT 20"
            )
        with self.lock:
            return [r[0] for r in self.db.execute(sql)]

    def passages(self, rowids: Sequence[int]) -> dict[int, StoredPassage]:
        """The passages with these rowids whose rows pass their checksum; a row that fails
        is flagged, logged and left out."""
        wanted = [r for r in rowids if r not in self._flagged_passages]
        found: dict[int, StoredPassage] = {}
        for row in self._fetch(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE rowid IN", wanted, "passage"
        ):
            rowid, pid, article_id, start, end, text, vector, checksum = row
            problem = None
            try:
                if not isinstance(vector, bytes) or len(vector) != self.dim * 4:
                    problem = "has a vector of the wrong size"
                elif (
                    checksum is not None
                    and passage_checksum(pid, article_id, start, end, text, vector).encode()
                    != checksum
                ):
                    problem = "does not match its checksum"
                else:
                    found[rowid] = StoredPassage(
                        rowid, decode(article_id) or "", int(start), int(end), decode(text) or ""
                    )
            except (UnicodeDecodeError, TypeError, ValueError):
                problem = "is unreadable"
            if problem is not None:
                self.flag("passage", rowid, problem)
        return found

    def article_refs(self, article_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        ids = [a for a in set(article_ids) if a not in self._flagged_articles]
        refs = {}
        sql = (
            "SELECT CAST(id AS BLOB), CAST(title AS BLOB), CAST(url AS BLOB) FROM articles "
            "WHERE id IN"
        )
        for row in self._fetch(sql, ids, "article"):
            try:
                article_id, title, url = (decode(v) for v in row)
            except UnicodeDecodeError:
                self.flag("article", row[0].decode("utf-8", "replace"), "is unreadable")
                continue
            refs[article_id or ""] = (title or "", url)
        return refs

    def article_dates(self, article_ids: Iterable[str]) -> dict[str, str | None]:
        ids = list(set(article_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self.lock:
            return dict(
                self.db.execute(
                    f"SELECT id, published FROM articles WHERE id IN ({marks})", ids
                ).fetchall()
            )

    def rowids_published(self, low: str | None, high: str | None, generation: int) -> np.ndarray:
        """Rowids of the passages of articles published in ``[low, high)``; cached per
        range until ``generation`` changes."""
        key = (generation, low, high)
        with self.lock:
            cached = self._within_cache.get(key)
            if cached is not None:
                return cached
            where, args = ["a.published IS NOT NULL"], []
            if low is not None:
                where.append("a.published >= ?")
                args.append(low)
            if high is not None:
                where.append("a.published < ?")
                args.append(high)
            rows = self.db.execute(
                "SELECT p.rowid FROM passages p JOIN articles a ON a.id = p.article_id "
                "WHERE " + " AND ".join(where),
                args,
            ).fetchall()
            rowids = np.array([r[0] for r in rows], dtype=np.int64)
            if any(k[0] != generation for k in self._within_cache):
                self._within_cache.clear()
            if len(self._within_cache) >= WITHIN_CACHE_SIZE:
                self._within_cache.pop(next(iter(self._within_cache)))
            self._within_cache[key] = rowids
            return rowids

    # ---- full text (FTS5: always current, slow on large indexes) -------------------------
    def fts_search(
        self, words: list[str], n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``n`` passages holding any of ``words`` by FTS5's BM25 (higher is better)."""
        where, args = "", [fts_query(words)]
        if within is not None:
            where = " AND rowid IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(within.tolist()))
        try:
            rows = (
                self.text_db()
                .execute(
                    "SELECT rowid, bm25(passages_fts) FROM passages_fts WHERE passages_fts "
                    f"MATCH ?{where} ORDER BY bm25(passages_fts) LIMIT ?",
                    (*args, n),
                )
                .fetchall()
            )
        except sqlite3.DatabaseError as exc:
            # Dense search still answers; qa-index check / repair find and rebuild FTS5.
            log.error("the full-text index cannot be searched (%s): run qa-index check", exc)
            return []
        return [(int(r[0]), -float(r[1])) for r in rows]

    def fts_document_frequency(self, word: str, generation: int) -> tuple[int, int]:
        """(passages holding ``word``, all passages) from FTS5. Counting a common word's
        matches is slow on a large index, so counts are cached until ``generation`` changes."""
        db = self.text_db()
        with self._text_lock:
            if self._df_generation != generation:
                self._df_cache.clear()
                self._df_generation = generation
                self._df_total = db.execute("SELECT count(*) FROM passages").fetchone()[0]
            cached = self._df_cache.get(word)
            total, cached_generation = self._df_total, self._df_generation
        if cached is None:
            cached = db.execute(
                "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?",
                ('"' + word.replace('"', '""') + '"',),
            ).fetchone()[0]
            with self._text_lock:
                if len(self._df_cache) >= DF_CACHE_WORDS:
                    self._df_cache.clear()
                if self._df_generation == cached_generation:  # not counted on an older index
                    self._df_cache[word] = cached
        return cached, total

    # ---- URL sources (never part of the index's generation) ------------------------------
    def url_sources(
        self, *, roots_only: bool = False, parent: str | None = None
    ) -> list[UrlSource]:
        """The URLs fetched for the index (only those given by the user, or only those found
        in the feed or sitemap ``parent``), in URL order."""
        where, args = [], []
        if roots_only:
            where.append("root = 1")
        if parent is not None:
            where.append("parent = ?")
            args.append(parent)
        sql = f"SELECT {_URL_SOURCE_COLUMNS} FROM url_sources"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.lock:
            rows = self.db.execute(sql + " ORDER BY url", args).fetchall()
        return [_url_source(r) for r in rows]

    def url_source(self, url: str) -> UrlSource | None:
        with self.lock:
            row = self.db.execute(
                f"SELECT {_URL_SOURCE_COLUMNS} FROM url_sources WHERE url = ?", (url,)
            ).fetchone()
        return _url_source(row) if row else None

    def save_url_sources(self, sources: Iterable[UrlSource]) -> None:
        """Record these fetches (one transaction). A URL once given by the user stays a root,
        and may keep being fetched from a private address if it could be."""
        rows = [
            (
                s.url,
                s.kind,
                int(s.root),
                s.parent,
                int(s.allow_private),
                s.etag,
                s.last_modified,
                s.content_hash,
                s.article_id,
                s.checked_at,
            )
            for s in sources
        ]
        if not rows:
            return
        with self.lock, self.transaction() as db:
            db.executemany(
                f"INSERT INTO url_sources({_URL_SOURCE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(url) DO UPDATE SET kind=excluded.kind,"
                " root=max(root, excluded.root), parent=coalesce(excluded.parent, parent),"
                " allow_private=max(allow_private, excluded.allow_private),"
                " etag=excluded.etag, last_modified=excluded.last_modified,"
                " content_hash=excluded.content_hash,"
                " article_id=coalesce(excluded.article_id, article_id),"
                " checked_at=excluded.checked_at",
                rows,
            )

    # ---- feedback (kept with the index, never part of its generation) -------------------
    def add_feedback(
        self,
        *,
        question: str,
        answer_text: str,
        article_id: str,
        helpful: bool,
        comment: str | None = None,
        start: int | None = None,
        channel: str = "api",
    ) -> FeedbackRecord:
        """Store one piece of feedback; a short transaction that no indexer run waits on."""
        now = time.time()
        with self.lock, self.transaction() as db:
            cur = db.execute(
                "INSERT INTO feedback(created_at, question, answer_text, article_id, start,"
                " helpful, comment, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now, question, answer_text, article_id, start, int(helpful), comment, channel),
            )
            assert cur.lastrowid is not None  # set by the row just inserted
            rowid = cur.lastrowid
        return FeedbackRecord(
            rowid, now, question, answer_text, article_id, start, helpful, comment, channel
        )

    def list_feedback(
        self, offset: int = 0, limit: int = 100, helpful: bool | None = None
    ) -> tuple[int, list[FeedbackRecord]]:
        """(how many, a page of them oldest first), all or only the (not) helpful ones."""
        where, args = ("", []) if helpful is None else ("WHERE helpful = ?", [int(helpful)])
        with self.lock:
            total = self.db.execute(f"SELECT count(*) FROM feedback {where}", args).fetchone()[0]
            rows = self.db.execute(
                "SELECT id, created_at, question, answer_text, article_id, start, helpful,"
                f" comment, channel FROM feedback {where} ORDER BY id LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return total, [
            FeedbackRecord(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8]) for r in rows
        ]
