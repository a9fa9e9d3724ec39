"""The on-disk index: one SQLite database (articles, passages, vectors, FTS5, metadata),
one FAISS file (``IndexIDMap2`` keyed by passage rowid) and one BM25 index per generation.

SQLite is the source of truth: each passage row keeps its vector, so the FAISS file is a
derived, rebuildable view. Every write is one SQLite transaction; the FAISS file is written
to a temp file and renamed after the commit. On open, FAISS is reconciled with SQLite, so a
crash anywhere leaves an index that opens consistent (the old or the new state).

The BM25 index (:mod:`indexer.lexical`) is derived too, and rebuilt after writes (seconds at
100k passages). It answers only for the generation it was built from; until the one for the
current generation exists, BM25 queries go to SQLite's FTS5 table, which is always current.

Integrity (:mod:`indexer.integrity`): article and passage rows carry a checksum, checked when
the answer path reads them; a row that fails is flagged, logged and left out. The FAISS and
BM25 files' checksums are recorded in ``meta`` when they are written and checked when they
are opened; a file that fails is rebuilt from SQLite, and the rebuild is logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock

from core.types import Article
from indexer.integrity import (
    BM25_CHECKSUMS_KEY,
    FAISS_CHECKSUMS_KEY,
    article_checksum,
    decode,
    is_disk_full,
    passage_checksum,
)
from indexer.lexical import LexicalIndex, intact_or_removed
from indexer.stores.base import (
    ArticleSummary,
    FeedbackRecord,
    IndexDamagedError,
    IndexMismatchError,
    StoredPassage,
    Upsert,
    UrlSource,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
DB_NAME = "index.sqlite"
FAISS_NAME = "vectors.faiss"
LOCK_NAME = ".write.lock"
LEXICAL_DIR = "bm25"

# FAISS index type by size (bench/scale.py measures recall@10, latency and memory):
# - up to EXACT_MAX_PASSAGES, a flat scan of fp16 codes: exact, ~2 ms at 20k on one core (the
#   scan is memory-bound and grows with the corpus: 6-9 ms at 100k on two cores);
# - up to HNSW_MAX_PASSAGES, an HNSW graph over fp16 codes: ~1 ms at 100k, recall@10 0.996
#   against exact search. HNSW cannot remove a vector, so a deleted passage's vector stays
#   in the graph, stale, until stale vectors pass STALE_MAX_SHARE and the graph is rebuilt
#   from SQLite; the re-score below reads the candidates' vectors from SQLite and so drops
#   stale ones;
# - above it, IVF with 8-bit scalar quantisation (4x smaller than fp32, sub-linear search,
#   remove_ids works), nprobe = nlist // IVF_PROBE_SHARE.
# Every search but an fp32 flat one re-scores its candidates with the exact fp32 vectors from
# SQLite, so the scores are exact whatever the index type.
EXACT_MAX_PASSAGES = 20_000
HNSW_MAX_PASSAGES = 250_000
HNSW_NEIGHBOURS = 32  # M: links per vector (64 in the bottom layer)
# Search and construction depth (efSearch, efConstruction), picked at 100k in bench/scale.py:
# efConstruction 64 -> 200 takes recall@10 from 0.973 to 0.993 at efSearch 96.
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 200
HNSW_CANDIDATES = 64  # HNSW candidates re-scored per search (at least)
STALE_MAX_SHARE = 0.1
IVF_PROBE_SHARE = 4  # nprobe = nlist // IVF_PROBE_SHARE
RESCORED_CANDIDATES = 50  # at least this many candidates are re-scored per search
IVF_TRAIN_PER_LIST = 40
DF_CACHE_WORDS = 100_000  # document frequencies kept between writes
# A search restricted to some passages (``within``: a date range) on an HNSW graph scores
# up to this many of them exactly instead: a graph walk that may stop at only a few nodes
# finds few of them.
FILTER_EXACT_MAX = 20_000
WITHIN_CACHE_SIZE = 32  # date ranges whose passage rowids are kept between writes

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


def ivf_lists(n: int) -> int:
    """IVF list count for ``n`` vectors: about sqrt(n), a power of two, in [64, 16384], and
    at most one list per 39 training vectors (FAISS's minimum; tiny corpora get fewer)."""
    ideal = int(min(16384, max(64, 2 ** round(np.log2(max(n, 1) ** 0.5)))))
    return max(1, min(ideal, min(n, ideal * IVF_TRAIN_PER_LIST) // 39))


def new_faiss_index(
    dim: int,
    n: int,
    exact_max: int = EXACT_MAX_PASSAGES,
    train: np.ndarray | None = None,
    hnsw_max: int = HNSW_MAX_PASSAGES,
) -> faiss.Index:
    """An empty FAISS index for about ``n`` unit vectors, keyed by passage rowid.

    Up to ``exact_max`` it is a flat scan of fp16 codes (``IndexIDMap2`` over an fp16
    ``IndexScalarQuantizer``); up to ``hnsw_max``, an HNSW graph over fp16 codes
    (``IndexIDMap2`` over ``IndexHNSWSQ``); above it, ``IndexIVFScalarQuantizer`` (8-bit,
    inner product, see :func:`ivf_nprobe`), trained on ``train`` (a sample of the vectors,
    required then). The IVF index holds the rowids itself: ``IndexIDMap2`` cannot wrap it, as
    its ``remove_ids`` renumbers only flat indexes.

    Args:
        dim: vector dimension.
        n: how many vectors the index is built for.
        exact_max: the largest ``n`` that gets the exact index.
        train: training vectors (a sample of the corpus) for the IVF index.
        hnsw_max: the largest ``n`` that gets the HNSW index.
    """
    if n <= exact_max:
        return faiss.IndexIDMap2(
            faiss.IndexScalarQuantizer(
                dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
        )
    if n <= hnsw_max:
        graph = faiss.IndexHNSWSQ(
            dim, faiss.ScalarQuantizer.QT_fp16, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT
        )
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.hnsw.efSearch = HNSW_EF_SEARCH
        return faiss.IndexIDMap2(graph)
    if train is None or not len(train):
        raise ValueError("an IVF index needs training vectors")
    nlist = max(1, min(ivf_lists(n), len(train) // 39))
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim),
        dim,
        nlist,
        faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )
    index.train(np.ascontiguousarray(train, dtype=np.float32))
    index.nprobe = ivf_nprobe(nlist)
    return index


def is_hnsw(index: faiss.Index) -> bool:
    """Whether ``index`` is the HNSW type of :func:`new_faiss_index` (it cannot remove)."""
    return isinstance(index, faiss.IndexIDMap2) and isinstance(
        faiss.downcast_index(index.index), faiss.IndexHNSW
    )


def describe_faiss(index: faiss.Index) -> str:
    """What kind of index this is, in a few words (for ``qa-index stats`` and the benches)."""
    if isinstance(index, faiss.IndexIVF):
        return f"IVF-SQ8 (nlist {index.nlist}, nprobe {index.nprobe})"
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSW):
        return f"HNSW fp16 (M {inner.hnsw.nb_neighbors(1)}, efSearch {inner.hnsw.efSearch})"
    if isinstance(inner, faiss.IndexScalarQuantizer):
        return "flat fp16 (exact)"
    return "flat fp32 (exact)"


def ivf_nprobe(nlist: int) -> int:
    """Lists searched per query: a quarter of them (recall@10 >= 0.99 in bench/scale.py)."""
    return max(1, min(nlist, max(16, nlist // IVF_PROBE_SHARE)))


def faiss_ids(index: faiss.Index) -> np.ndarray:
    """The rowids held by an index made by :func:`new_faiss_index` (any order)."""
    if isinstance(index, faiss.IndexIDMap2):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    ivf = faiss.extract_index_ivf(index)
    lists = ivf.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
        for i in range(ivf.nlist)
        if lists.list_size(i)
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _file_identity(file: Path | int) -> tuple[int, int, int]:
    """(inode, size, mtime) of a path or an open file: a file renamed over it differs."""
    st = os.stat(file)
    return st.st_ino, st.st_size, st.st_mtime_ns


def fts_query(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: the words, quoted, OR-ed."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


# Checksummed reads: text columns as bytes, so damaged UTF-8 is a finding, not an exception.
_PASSAGE_COLUMNS = (
    "rowid, CAST(id AS BLOB), CAST(article_id AS BLOB), start, end, CAST(text AS BLOB), vector, "
    "CAST(checksum AS BLOB)"
)
_ARTICLE_COLUMNS = (
    "CAST(id AS BLOB), CAST(title AS BLOB), CAST(url AS BLOB), CAST(text AS BLOB), "
    "CAST(meta AS BLOB), CAST(source AS BLOB), CAST(checksum AS BLOB), published"
)
CHECKSUM_BATCH = 20_000  # rows per transaction when an older index gets its checksums


_URL_SOURCE_COLUMNS = (
    "url, kind, root, parent, allow_private, etag, last_modified, content_hash, article_id,"
    " checked_at"
)


def _url_source(row: Sequence) -> UrlSource:
    return UrlSource(row[0], row[1], bool(row[2]), row[3], bool(row[4]), *row[5:])


class IndexStore:
    """SQLite + FAISS index in one directory. Thread-safe; one writer process at a time.

    Args:
        directory: the index directory (created if missing).
        model: embedding model name recorded in (and checked against) the index.
        dim: embedding dimension recorded in (and checked against) the index.
        exact_max, hnsw_max: the FAISS type's size thresholds (see :func:`new_faiss_index`).
    """

    def __init__(
        self,
        directory: Path,
        model: str,
        dim: int,
        *,
        exact_max: int = EXACT_MAX_PASSAGES,
        hnsw_max: int = HNSW_MAX_PASSAGES,
    ) -> None:
        self.directory = Path(directory)
        self.exact_max = exact_max
        self.hnsw_max = hnsw_max
        self._stale = 0  # vectors in FAISS whose passage SQLite no longer holds (HNSW only)
        self._faiss_replaced = False  # the FAISS file was missing or failed: rebuilt in memory
        self._unverified_faiss: tuple[int, int, int] | None = None  # see _load_faiss
        self.directory.mkdir(parents=True, exist_ok=True)
        self.model, self.dim = model, dim
        self.db_path = self.directory / DB_NAME
        self.faiss_path = self.directory / FAISS_NAME
        # One lock for this process's threads, one file lock across processes.
        self._lock = threading.RLock()
        self._file_lock = FileLock(str(self.directory / LOCK_NAME))
        # Rows that failed their checksum since the last generation change: left out of answers.
        self._flagged_passages: set[int] = set()
        self._flagged_articles: set[str] = set()
        self._flag_lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._file_lock:
                self._init_schema()
                # Checked against its checksum on a thread of its own (_verify_opened_files),
                # while the caller loads its models: nothing searches or writes it before.
                self.index = self._load_faiss(verify=False)
                self._reconcile()
            self._seen_version = self._generation()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            if is_disk_full(exc):
                raise
            log.error("cannot open the index database %s: %s", self.db_path, exc)
            raise IndexDamagedError(
                "the index database cannot be read (damaged?): run qa-index check"
            ) from exc
        self._df_cache: dict[str, int] = {}
        self._within_cache: dict[tuple[int, str | None, str | None], np.ndarray] = {}
        self._df_generation = -1
        self._df_total = 0
        # Full-text reads get a connection per thread: BM25 then runs while another thread
        # searches FAISS (the retriever overlaps the two), instead of queueing on self._lock.
        self._text_local = threading.local()
        self._text_dbs: list[sqlite3.Connection] = []
        self._text_lock = threading.Lock()  # the connection list and the DF cache
        self.lexical_dir = self.directory / LEXICAL_DIR
        self._lexical = self._load_lexical(self._seen_version, verify=False)
        self._lexical_lock = threading.Lock()  # loading or swapping self._lexical
        self._lexical_builder: threading.Thread | None = None  # see update_lexical_in_background
        self._lexical_wanted = False
        self._verified = threading.Event()  # set once the files opened above are checked
        self._verifier = threading.Thread(
            target=self._verify_opened_files, name="verify-index-files", daemon=True
        )
        self._verifier.start()

    # ---- set-up and recovery -------------------------------------------------------------
    def _init_schema(self) -> None:
        existing = dict(self._db.execute("SELECT name, type FROM sqlite_master").fetchall())
        if "meta" in existing:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            if int(meta.get("schema_version", SCHEMA_VERSION)) > SCHEMA_VERSION:
                reason = (
                    f"the index has schema version {meta['schema_version']}, this program uses "
                    f"{SCHEMA_VERSION} (older)"
                )
                raise IndexMismatchError(
                    f"index at {self.directory}: {reason}: upgrade the program, or rebuild the "
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
                    f"index at {self.directory}: {reason}: use the same model or rebuild the index",
                    reason,
                )
        self._db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        with self._transaction() as db:
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
        if self._meta_value("row_checksums") != "1":
            self.record_checksums()

    def record_checksums(self) -> None:
        """Record the checksums of rows that have none: once, on the first open of an index
        written before row checksums (in batches, so an interrupted run goes on where it
        stopped), and by ``qa-index repair`` for rows an older version wrote since."""
        for table in ("articles", "passages"):
            columns = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if "checksum" not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN checksum TEXT")
        todo = self._db.execute(
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
                with self._transaction() as db:
                    rows = db.execute(
                        f"{sql} WHERE checksum IS NULL LIMIT {CHECKSUM_BATCH}"
                    ).fetchall()
                    db.executemany(
                        f"UPDATE {table} SET checksum=? WHERE rowid=?",
                        [(checksum(r), r[0]) for r in rows],
                    )
                if len(rows) < CHECKSUM_BATCH:
                    break
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('row_checksums', '1')")

    def _meta_value(self, key: str, db: sqlite3.Connection | None = None) -> str | None:
        row = (db or self._db).execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str, db: sqlite3.Connection | None = None) -> None:
        """Set one meta value in a transaction of its own (the caller holds no transaction)."""
        db = db or self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _new_faiss(self, rowids: np.ndarray, db: sqlite3.Connection | None = None) -> faiss.Index:
        """An empty index of the type that suits these passages (trained on their vectors if
        needed)."""
        if len(rowids) <= self.hnsw_max:
            return new_faiss_index(self.dim, len(rowids), self.exact_max, hnsw_max=self.hnsw_max)
        size = min(len(rowids), ivf_lists(len(rowids)) * IVF_TRAIN_PER_LIST)
        sample = np.random.default_rng(0).choice(rowids, size, replace=False).tolist()
        train = np.vstack(
            [
                self._vectors_from_db(sample[lo : lo + 10_000], db)[1]
                for lo in range(0, size, 10_000)
            ]
        )
        return new_faiss_index(self.dim, len(rowids), self.exact_max, train, self.hnsw_max)

    def _built_faiss(self, db: sqlite3.Connection | None = None) -> faiss.Index:
        """A new index of the fitting type holding every vector in SQLite."""
        rowids = self._db_rowids(db)
        index = self._new_faiss(rowids, db)
        self._add_vectors_from_db(rowids.tolist(), index, db)
        return index

    def _faiss_checksums(self) -> list[str]:
        """Checksums a true FAISS file may have: the current one, and while a writer is between
        writing its file and renaming it into place, the new one too."""
        return self._faiss_checksums_from(self._db)

    def _faiss_checksums_from(self, db: sqlite3.Connection) -> list[str]:
        return json.loads(self._meta_value(FAISS_CHECKSUMS_KEY, db) or "[]")

    def _load_faiss(self, *, verify: bool = True) -> faiss.Index:
        """The FAISS index from its file, checked against its recorded checksum; an empty one
        (filled from SQLite by the reconciliation that follows) when the file is missing,
        unreadable or damaged. Call with the writer lock held (a file without a recorded
        checksum, written by an older version, then gets one).

        ``verify=False`` reads the file as it is and leaves the check to
        :meth:`_verify_opened_files` (or to :meth:`_reconcile`, before it changes it)."""
        if not verify and self.faiss_path.exists():
            try:
                identity = _file_identity(self.faiss_path)
                index = faiss.read_index(str(self.faiss_path))
            except RuntimeError:
                pass  # unreadable: checked and rebuilt right away, below
            else:
                if index.d == self.dim:
                    self._unverified_faiss = identity
                    self._tune(index)
                    return index
        self._unverified_faiss = None
        index, problem = self._read_faiss(locked=True)
        if index is None:
            self._faiss_replaced = True  # saved by the reconciliation, even if it adds nothing
            if problem:
                log.warning(
                    "the FAISS file %s %s: rebuilding it from the vectors in SQLite",
                    self.faiss_path,
                    problem,
                )
            # Filled from SQLite by the reconciliation that follows.
            return self._new_faiss(self._db_rowids())
        return index

    def _read_faiss(self, *, locked: bool) -> tuple[faiss.Index | None, str | None]:
        """(the index, None), or (None, what is wrong with the file; None if it is missing)."""
        if not self.faiss_path.exists():
            return None, None
        digest = hashlib.sha256()
        with open(self.faiss_path, "rb") as f:

            def hashed_read(size: int) -> bytes:
                chunk = f.read(size)
                digest.update(chunk)
                return chunk

            try:  # hashed as FAISS reads it: one pass over the file, no copy of it
                index = faiss.read_index(faiss.PyCallbackIOReader(hashed_read))
            except RuntimeError:
                # A torn or foreign file: SQLite holds every vector, so rebuild from it.
                return None, "is unreadable"
            digest.update(f.read())  # anything after what FAISS read
        checksum = digest.hexdigest()
        accepted = self._faiss_checksums()
        if accepted and checksum not in accepted:
            return None, "does not match its recorded checksum (damaged)"
        if index.d != self.dim:
            reason = f"the vector file holds {index.d}-dim vectors, the model gives {self.dim}"
            raise IndexMismatchError(f"{self.faiss_path}: {reason}", reason)
        if not accepted and locked:
            self._record_faiss_checksums([checksum])
        self._tune(index)
        return index, None

    @staticmethod
    def _tune(index: faiss.Index) -> None:
        """Search settings are not all kept in the file: set them."""
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = ivf_nprobe(index.nlist)
        elif is_hnsw(index):
            faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH

    def _verify_opened_files(self) -> None:
        """Check the files the constructor opened without checking them: the FAISS file
        (hashed from disk; its identity tells if a writer replaced it meanwhile) and the BM25
        files. A FAISS file that fails is rebuilt from SQLite (logged) before anything
        searches it; a BM25 index that fails is dropped and rebuilt in the background, FTS5
        answering meanwhile. Searches and writes wait for this (:meth:`_wait_verified`)."""
        try:
            identity = self._unverified_faiss
            if identity is not None:
                accepted = self._faiss_checksums_from(self._text_db())
                with open(self.faiss_path, "rb") as f:
                    same_file = _file_identity(f.fileno()) == identity
                    checksum = hashlib.file_digest(f, "sha256").hexdigest()
                if not same_file or (accepted and checksum not in accepted):
                    # Replaced by a writer, or damaged: read and check it under the lock.
                    with self._file_lock, self._lock:
                        self.index = self._load_faiss()
                        self._reconcile()
                elif not accepted:
                    with self._file_lock:
                        if not self._faiss_checksums():
                            self._record_faiss_checksums([checksum])
                self._unverified_faiss = None
            lexical = self._lexical
            if lexical is not None and not self._lexical_checked(lexical):
                log.warning("BM25 index of generation %d is dropped", lexical.generation)
                with self._lexical_lock:
                    if self._lexical is lexical:
                        self._lexical = None
                self.update_lexical_in_background()
        except Exception:  # a thread has no caller: searches go on, from SQLite if need be
            log.exception("checking the index files failed")
        finally:
            self._verified.set()

    def _wait_verified(self) -> None:
        """Wait until the files opened by the constructor are checked (about a second per
        GB of files, spent while the models load)."""
        if not self._verified.is_set():
            self._verified.wait()

    def _faiss_ids(self) -> np.ndarray:
        return faiss_ids(self.index)

    def _db_rowids(self, db: sqlite3.Connection | None = None) -> np.ndarray:
        rows = (db or self._db).execute("SELECT rowid FROM passages")
        return np.array([r[0] for r in rows], dtype=np.int64)

    def _forget(self, rowids: np.ndarray) -> None:
        """Take these passages' vectors out of FAISS (HNSW cannot: they stay, stale)."""
        if len(rowids) and not is_hnsw(self.index):
            self.index.remove_ids(np.asarray(rowids, dtype=np.int64))

    def _count_stale(self) -> None:
        live = self._db.execute("SELECT count(*) FROM passages").fetchone()[0]
        self._stale = max(0, self.index.ntotal - live)

    # ---- repair (qa-index repair) --------------------------------------------------------
    def rebuild_faiss(self) -> None:
        """Rebuild the FAISS index from SQLite's vectors and write it. Call inside
        :meth:`writing`."""
        with self._lock:
            self.index = self._built_faiss()
            self._stale = 0
            self._save_faiss()
        log.info("FAISS index rebuilt from SQLite: %s", describe_faiss(self.index))

    def rebuild_sqlite_indexes(self) -> None:
        """Rebuild SQLite's indexes from their tables (REINDEX) and the full-text index
        from the passages. Call inside :meth:`writing`."""
        with self._lock:
            self._db.execute("REINDEX")
            with self._transaction() as db:
                db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")

    def delete_rows(self, article_rowids: Sequence[int], passage_rowids: Sequence[int]) -> None:
        """Delete rows by rowid (damaged ones, whose ids may be unreadable), with the
        passages of the articles. Call inside :meth:`writing`."""
        with self._lock:
            with self._transaction() as db:
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
                db.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'"
                )
            self._forget(np.array(passage_rowids, dtype=np.int64))
            self._count_stale()
            self._save_faiss()
            self._seen_version = self._generation()
            self._clear_flags()

    def article_rowid(self, article_id: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT rowid FROM articles WHERE id=?", (article_id,)
            ).fetchone()
        return row[0] if row else None

    def refit_due(self) -> bool:
        """Whether the FAISS index should be rebuilt from SQLite: it outgrew its type
        (flat past ``exact_max``, HNSW past ``hnsw_max``, IVF grown fourfold: twice the ideal
        list count), or more than ``STALE_MAX_SHARE`` of an HNSW graph is stale."""
        with self._lock:
            live = self.index.ntotal - self._stale
            if isinstance(self.index, faiss.IndexIVF):
                return ivf_lists(live) >= 2 * faiss.extract_index_ivf(self.index).nlist
            if is_hnsw(self.index):
                return live > self.hnsw_max or self._stale > STALE_MAX_SHARE * self.index.ntotal
            return live > self.exact_max

    def refit_faiss(self) -> bool:
        """Rebuild the FAISS index from SQLite, with the type that fits its size, when
        :meth:`refit_due` says so; returns whether it did. Call inside :meth:`writing`.

        The new index is built outside the store's lock (HNSW at 100k passages: about a
        minute), so questions go on being answered from the current one meanwhile.
        """
        if not self.refit_due():
            return False
        db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        try:
            index = self._built_faiss(db)
        finally:
            db.close()
        with self._lock:
            self.index = index
            self._stale = 0
            self._save_faiss()
        log.info("FAISS index rebuilt from SQLite: %s", describe_faiss(index))
        return True

    def _reconcile(self) -> None:
        """Make FAISS hold exactly the passages in SQLite (after a crash between the two);
        an HNSW graph keeps the vectors of deleted passages, stale."""
        db_ids = self._db_rowids()
        faiss_ids = self._faiss_ids()
        self._stale = 0
        if self._unverified_faiss is not None and not np.array_equal(
            np.sort(faiss_ids), np.sort(db_ids)
        ):
            # About to change and save it: check it first, so damage is never saved over.
            self.index = self._load_faiss()
            faiss_ids = self._faiss_ids()
        replaced, self._faiss_replaced = self._faiss_replaced, False
        if np.array_equal(np.sort(faiss_ids), np.sort(db_ids)):
            if replaced:
                self._save_faiss()
            return  # the usual case
        if len(faiss_ids) != len(np.unique(faiss_ids)):
            self.index = self._new_faiss(db_ids)
            missing = db_ids
        else:
            extra = np.setdiff1d(faiss_ids, db_ids, assume_unique=True)
            missing = np.setdiff1d(db_ids, faiss_ids, assume_unique=True)
            if not len(missing) and (not len(extra) or is_hnsw(self.index)):
                self._stale = len(extra)
                return  # nothing to change: only stale vectors in an HNSW graph
            self._forget(extra)
        if len(missing):
            self._add_vectors_from_db(missing.tolist())
        self._count_stale()
        self._save_faiss()

    def _vectors_from_db(
        self, rowids: Sequence[int], db: sqlite3.Connection | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, vectors) of the passages with these rowids (at most 10,000 per call);
        rows that cannot be read are left out (logged)."""
        db = db or self._db
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

    def _add_vectors_from_db(
        self,
        rowids: Sequence[int],
        index: faiss.Index | None = None,
        db: sqlite3.Connection | None = None,
    ) -> None:
        index = self.index if index is None else index
        for lo in range(0, len(rowids), 10_000):
            index.add_with_ids(*self._vectors_from_db(rowids[lo : lo + 10_000], db)[::-1])

    def _record_faiss_checksums(self, checksums: list[str]) -> None:
        self._set_meta(FAISS_CHECKSUMS_KEY, json.dumps(checksums))

    def _save_faiss(self) -> None:
        """Write the FAISS file (temp file, fsync, rename) with its checksum recorded in SQLite:
        first as a second accepted value, then, once renamed, as the only one, so a reader
        never finds a true file without its checksum.

        Called after SQLite committed: a failure here (a full disk) loses nothing, as the file
        on disk stays the previous true one and the next open adds the missing vectors from
        SQLite, so it is logged and not raised."""
        tmp = self.faiss_path.with_suffix(".faiss.tmp")
        try:
            digest = hashlib.sha256()
            with open(tmp, "wb") as f:

                def hashed_write(chunk: bytes) -> None:
                    digest.update(chunk)
                    f.write(chunk)

                # Hashed as FAISS writes it: one pass, no copy of the index in memory.
                faiss.write_index(self.index, faiss.PyCallbackIOWriter(hashed_write))
                f.flush()
                os.fsync(f.fileno())
            checksum = digest.hexdigest()
            self._record_faiss_checksums(list(dict.fromkeys([*self._faiss_checksums(), checksum])))
            os.replace(tmp, self.faiss_path)
            self._record_faiss_checksums([checksum])
        except (OSError, sqlite3.OperationalError) as exc:
            tmp.unlink(missing_ok=True)
            log.error(
                "could not write the FAISS file (%s): the write itself is safe in SQLite, and "
                "the file is brought up to date from it on the next open",
                exc,
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            # A COMMIT that fails (a full disk) leaves the transaction open: end it.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _generation(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def refresh(self) -> bool:
        """Reload FAISS if another process wrote to the index since we last looked.

        A file that fails its checksum here may be a writer's, caught between its rename and
        its checksum record: it is looked at again under the writer lock, and rebuilt from
        SQLite (logged) only if it still fails there.
        """
        self._wait_verified()
        with self._lock:
            generation = self._generation()
            if generation == self._seen_version:
                return False
            self._clear_flags()
            index, problem = self._read_faiss(locked=False)
            if index is not None or problem is None:
                self.index = index if index is not None else self._new_faiss(self._db_rowids())
                self._reconcile_readonly()
                self._seen_version = generation
                return True
        with self.writing():  # reloads, checks and if need be rebuilds, under the writer lock
            pass
        return True

    def _reconcile_readonly(self) -> None:
        db_count = self._db.execute("SELECT count(*) FROM passages").fetchone()[0]
        if db_count != self.index.ntotal or is_hnsw(self.index):
            # The writer may be between its commit and its rename: take vectors from SQLite.
            # (An HNSW graph's count includes its stale vectors, so it is always compared.)
            faiss_ids = np.unique(self._faiss_ids())
            db_ids = self._db_rowids()
            self._forget(np.setdiff1d(faiss_ids, db_ids, assume_unique=True))
            missing = np.setdiff1d(db_ids, faiss_ids, assume_unique=True)
            if len(missing):
                self._add_vectors_from_db(missing.tolist())
        self._count_stale()

    # ---- reads ---------------------------------------------------------------------------
    def article_hashes(self) -> dict[str, tuple[str, str | None]]:
        """id → (content_hash, url) of every stored article."""
        with self._lock:
            rows = self._db.execute("SELECT id, content_hash, url FROM articles").fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def _rows_in(self, sql: str, keys: Sequence) -> list[tuple]:
        """Rows of ``sql`` + `` (?, ...)``, for ``keys`` 500 at a time."""
        rows: list[tuple] = []
        with self._lock:
            for lo in range(0, len(keys), 500):
                chunk = list(keys[lo : lo + 500])
                marks = ",".join("?" * len(chunk))
                rows += self._db.execute(f"{sql} ({marks})", chunk).fetchall()
        return rows

    def stored_versions(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """id -> (content hash, meta JSON) of the stored articles among ``article_ids``."""
        sql = "SELECT id, content_hash, meta FROM articles WHERE id IN"
        return {r[0]: (r[1], r[2]) for r in self._rows_in(sql, article_ids)}

    def articles_by_url(self, urls: Sequence[str]) -> dict[str, str]:
        """url -> id of the stored articles with these URLs."""
        sql = "SELECT id, url FROM articles WHERE url IN"
        return {r[1]: r[0] for r in self._rows_in(sql, urls)}

    def existing_vectors(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of passages that are already indexed (reused, not re-embedded)."""
        sql = "SELECT id, vector FROM passages WHERE id IN"
        rows = self._rows_in(sql, passage_ids)
        return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    def get_article(self, article_id: str) -> Article | None:
        """The stored article, checked against its checksum.

        Raises:
            IndexDamagedError: the stored row is damaged (it is flagged and logged).
        """
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
                self._flag("article", article_id, problem)
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

    def _fetch(self, sql: str, keys: Sequence, kind: str) -> list[tuple]:
        """Rows of ``sql`` + `` (?, ...)`` for ``keys``; when the batch cannot be read (a
        damaged page), row by row, flagging the keys whose row cannot be read."""
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        with self._lock:
            try:
                return self._db.execute(f"{sql} ({marks})", list(keys)).fetchall()
            except sqlite3.DatabaseError:
                rows = []
                for key in keys:
                    try:
                        rows += self._db.execute(f"{sql} (?)", (key,)).fetchall()
                    except sqlite3.DatabaseError as exc:
                        self._flag(kind, key, f"cannot be read: {exc}")
                return rows

    def _flag(self, kind: str, key: object, problem: str) -> None:
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
            self.db_path.name,
            problem,
        )

    def flag_passage(self, rowid: int, problem: str) -> None:
        """Leave passage ``rowid`` out of answers (the engine found it inconsistent)."""
        self._flag("passage", rowid, problem)

    def _clear_flags(self) -> None:
        """The index changed (perhaps repaired): flagged rows are checked again when read."""
        with self._flag_lock:
            self._flagged_passages.clear()
            self._flagged_articles.clear()

    def flagged(self) -> tuple[int, int]:
        """(passages, articles) left out of answers as damaged since the index last changed."""
        with self._flag_lock:
            return len(self._flagged_passages), len(self._flagged_articles)

    def list_articles(
        self, offset: int = 0, limit: int = 50, query: str | None = None
    ) -> tuple[int, list[ArticleSummary]]:
        """A page of articles (by title), optionally filtered by a substring of title or id."""
        where, args = "", []
        query = (query or "").replace("\x00", "")  # SQLite's LIKE stops at a NUL
        if query:
            where = "WHERE a.title LIKE ? ESCAPE '\\' OR a.id LIKE ? ESCAPE '\\'"
            pattern = (
                "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            args = [pattern, pattern]
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM articles a {where}", args).fetchone()[0]
            rows = self._db.execute(
                f"""SELECT a.id, a.title, a.url, length(a.text),
                           (SELECT count(*) FROM passages p WHERE p.article_id = a.id)
                    FROM articles a {where} ORDER BY a.title COLLATE NOCASE, a.id
                    LIMIT ? OFFSET ?""",
                [*args, limit, offset],
            ).fetchall()
        return total, [ArticleSummary(r[0], r[1], r[2], r[4], r[3]) for r in rows]

    def _text_db(self) -> sqlite3.Connection:
        """This thread's read connection for full-text queries."""
        db = getattr(self._text_local, "db", None)
        if db is None:
            db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
            self._text_local.db = db
            with self._text_lock:
                self._text_dbs.append(db)
        return db

    def document_frequency(self, word: str) -> tuple[int, int]:
        """(passages containing ``word``, all passages), from the BM25 index when it is
        current, else from FTS5.

        Counting a common word's matches in FTS5 is slow on a large index, so those counts
        are cached until the index changes.
        """
        lexical = self.lexical()
        if lexical is not None:
            try:
                return lexical.document_frequency(word), len(lexical)
            except (IndexError, ValueError, OSError) as exc:
                self._lexical_failed(lexical, exc)
        try:
            return self._fts_document_frequency(word)
        except sqlite3.DatabaseError as exc:
            log.error("the full-text index cannot be read (%s): run qa-index check", exc)
            return 0, 1

    def _fts_document_frequency(self, word: str) -> tuple[int, int]:
        db = self._text_db()
        with self._text_lock:
            if self._df_generation != self._seen_version:
                self._df_cache.clear()
                self._df_generation = self._seen_version
                self._df_total = db.execute("SELECT count(*) FROM passages").fetchone()[0]
            cached = self._df_cache.get(word)
            total, generation = self._df_total, self._df_generation
        if cached is None:
            cached = db.execute(
                "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?",
                ('"' + word.replace('"', '""') + '"',),
            ).fetchone()[0]
            with self._text_lock:
                if len(self._df_cache) >= DF_CACHE_WORDS:
                    self._df_cache.clear()
                if self._df_generation == generation:  # not counted on an older index
                    self._df_cache[word] = cached
        return cached, total

    def counts(self) -> tuple[int, int]:
        with self._lock:
            articles = self._db.execute("SELECT count(*) FROM articles").fetchone()[0]
            passages = self._db.execute("SELECT count(*) FROM passages").fetchone()[0]
        return articles, passages

    def vector_counts(self) -> tuple[int, int]:
        """(vectors FAISS holds for current passages, stale vectors of deleted ones: HNSW
        keeps those until its next rebuild)."""
        with self._lock:
            return self.index.ntotal - self._stale, self._stale

    def faiss_kind(self) -> str:
        with self._lock:
            return describe_faiss(self.index)

    def stats(self) -> dict[str, object]:
        articles, passages = self.counts()
        vectors, stale = self.vector_counts()
        return {
            "store": "embedded",
            "index_dir": str(self.directory),
            "articles": articles,
            "passages": passages,
            "vectors": vectors,
            # HNSW cannot delete: deleted passages' vectors wait, never returned, for the
            # rebuild that comes once they are a tenth of the graph.
            "stale_vectors": stale,
            "faiss": self.faiss_kind(),
            # False after a crash or with an older version's index: FTS5 answers BM25
            # queries until the next add, or qa-serve, rebuilds it.
            "bm25_current": self.lexical_current(),
            "model": self.model,
            "dim": self.dim,
        }

    @property
    def generation(self) -> int:
        """The index generation this store has loaded (it changes with every write)."""
        return self._seen_version

    def probe_passage(self, *, newest: bool) -> StoredPassage | None:
        """A passage for the engine's self-test: the newest one that passes its checksum, or
        one from a random place in the index.

        Raises:
            IndexDamagedError: the 20 passages looked at all fail their checksums.
        """
        sql = "SELECT rowid FROM passages ORDER BY rowid DESC LIMIT 20"
        if not newest:
            sql = (
                "SELECT rowid FROM passages WHERE rowid >= "
                "abs(random()) % ((SELECT max(rowid) FROM passages) + 1) ORDER BY rowid LIMIT 20"
            )
        with self._lock:
            rowids = [r[0] for r in self._db.execute(sql)]
        found = self.passages(rowids)
        if rowids and not found:
            raise IndexDamagedError("stored passages fail their checksums: run qa-index check")
        return next((found[r] for r in rowids if r in found), None)

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
                self._flag("passage", rowid, problem)
        return found

    def article_refs(self, article_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """(title, url) of the articles with these ids (unreadable ones left out)."""
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
                self._flag("article", row[0].decode("utf-8", "replace"), "is unreadable")
                continue
            refs[article_id or ""] = (title or "", url)
        return refs

    def _article_rows(self, article_ids: Iterable[str], columns: str) -> list[tuple]:
        """``columns`` of the stored articles among ``article_ids``."""
        ids = list(set(article_ids))
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self._lock:
            return self._db.execute(
                f"SELECT {columns} FROM articles WHERE id IN ({marks})", ids
            ).fetchall()

    def search_dense(
        self, query: np.ndarray, n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``n`` passages by inner product with the (normalised) query vector; only
        passages whose rowid is in ``within``, when given (see :meth:`rowids_published`)."""
        query = query.reshape(1, -1).astype(np.float32)
        self._wait_verified()
        with self._lock:
            if self.index.ntotal == 0 or (within is not None and not len(within)):
                return []
            if within is not None and is_hnsw(self.index) and len(within) <= FILTER_EXACT_MAX:
                return self._score_within(query[0], n, within)
            # Indexes written before fp16 codes hold the fp32 vectors: their scores are exact.
            exact = isinstance(self.index, faiss.IndexIDMap2) and isinstance(
                faiss.downcast_index(self.index.index), faiss.IndexFlat
            )
            k = n if exact else max(n, RESCORED_CANDIDATES)
            if is_hnsw(self.index):
                # Stale vectors take candidates' places: ask for that many more.
                stale_share = min(self._stale / self.index.ntotal, 0.5)
                k = math.ceil(max(k, HNSW_CANDIDATES) / (1 - stale_share))
            params = None if within is None else self._selector_params(within, k)
            # One query: more OpenMP threads only contend (2.5x slower on 2 busy cores). This
            # sets the calling thread's count only, restored after.
            threads = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
            try:
                scores, ids = self.index.search(query, k, params=params)
            finally:
                faiss.omp_set_num_threads(threads)
            if not exact:  # re-score the candidates with the exact vectors (stale ones drop)
                found, vectors = self._vectors_from_db([int(i) for i in ids[0] if i >= 0])
                exact_scores = vectors @ query[0]
                best = np.argsort(-exact_scores, kind="stable")[:n]
                return [(int(found[i]), float(exact_scores[i])) for i in best]
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _selector_params(self, within: np.ndarray, k: int) -> faiss.SearchParameters:
        """FAISS search parameters that skip every vector whose rowid is not in ``within``."""
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(within, dtype=np.int64))
        if isinstance(self.index, faiss.IndexIVF):
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nprobe)
        if is_hnsw(self.index):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, k))
        return faiss.SearchParameters(sel=selector)

    def _score_within(
        self, query: np.ndarray, n: int, within: np.ndarray
    ) -> list[tuple[int, float]]:
        """Exact top ``n`` among the passages ``within``, from their vectors in SQLite."""
        found, scores = [], []
        rowids = within.tolist()
        for lo in range(0, len(rowids), 10_000):
            ids, vectors = self._vectors_from_db(rowids[lo : lo + 10_000])
            found.append(ids)
            scores.append(vectors @ query)
        all_ids, all_scores = np.concatenate(found), np.concatenate(scores)
        best = np.argsort(-all_scores, kind="stable")[:n]
        return [(int(all_ids[i]), float(all_scores[i])) for i in best]

    def rowids_published(self, low: str | None, high: str | None) -> np.ndarray:
        """Rowids of the passages of articles published in ``[low, high)`` (stored ISO 8601
        forms, see :func:`indexer.dates.date_bounds`; None: open). An article with no date
        is outside every range. Cached per range until the next write."""
        key = (self._seen_version, low, high)
        with self._lock:
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
            rows = self._db.execute(
                "SELECT p.rowid FROM passages p JOIN articles a ON a.id = p.article_id "
                "WHERE " + " AND ".join(where),
                args,
            ).fetchall()
            rowids = np.array([r[0] for r in rows], dtype=np.int64)
            if any(k[0] != self._seen_version for k in self._within_cache):
                self._within_cache.clear()
            if len(self._within_cache) >= WITHIN_CACHE_SIZE:
                self._within_cache.pop(next(iter(self._within_cache)))
            self._within_cache[key] = rowids
            return rowids

    def article_dates(self, article_ids: Iterable[str]) -> dict[str, str | None]:
        """id → published (None when unknown) of these articles."""
        return dict(self._article_rows(article_ids, "id, published"))

    def lexical_current(self) -> bool:
        return self.lexical() is not None

    def lexical(self) -> LexicalIndex | None:
        """The BM25 index of the current generation, if it has been built (by any process)
        and its files match their recorded checksums (if not, it is rebuilt in the
        background; FTS5 answers meanwhile)."""
        self._wait_verified()
        generation = self._seen_version
        lexical = self._lexical
        if lexical is not None and lexical.generation == generation:
            return lexical
        if not (self.lexical_dir / str(generation)).is_dir():
            return None
        with self._lexical_lock:
            if self._lexical is None or self._lexical.generation != generation:
                loaded = self._load_lexical(generation, self._text_db())
                if loaded is None:  # damaged or unverifiable, and removed: build it anew
                    self._lexical_wanted = True
                    self._start_lexical_builder()
                    return None
                self._lexical = loaded
            return self._lexical

    def _load_lexical(
        self, generation: int, db: sqlite3.Connection | None = None, *, verify: bool = True
    ) -> LexicalIndex | None:
        """The saved BM25 index of ``generation`` if its files match the checksums recorded
        for them; a directory without recorded checksums (an older version's) is removed.
        ``verify=False`` leaves the files' check to :meth:`_lexical_checked`."""
        path = self.lexical_dir / str(generation)
        if not path.is_dir():
            return None
        recorded = json.loads(self._meta_value(BM25_CHECKSUMS_KEY, db) or "{}")
        if recorded.get("generation") != generation:
            log.info("BM25 index %s has no recorded checksums: it is rebuilt", path)
            shutil.rmtree(path, ignore_errors=True)
            return None
        checksums = recorded.get("files") or {}
        return LexicalIndex.load(self.lexical_dir, generation, checksums if verify else None)

    def _lexical_checked(self, lexical: LexicalIndex) -> bool:
        """Whether the files of ``lexical`` (loaded unchecked) match their recorded
        checksums; if not, they are removed (logged)."""
        path = self.lexical_dir / str(lexical.generation)
        recorded = json.loads(self._meta_value(BM25_CHECKSUMS_KEY, self._text_db()) or "{}")
        if recorded.get("generation") != lexical.generation:
            return False
        return intact_or_removed(path, recorded.get("files") or {})

    def _record_bm25_checksums(
        self, generation: int, files: dict[str, str], db: sqlite3.Connection
    ) -> None:
        value = json.dumps({"generation": generation, "files": files})
        self._set_meta(BM25_CHECKSUMS_KEY, value, db)

    def _lexical_failed(self, lexical: LexicalIndex, exc: Exception) -> None:
        """A BM25 index that fails when searched (changed on disk after it was checked):
        dropped, its files removed, and rebuilt in the background; FTS5 answers meanwhile."""
        log.error(
            "the BM25 index of generation %d failed (%s: %s): it is rebuilt from SQLite",
            lexical.generation,
            type(exc).__name__,
            exc,
        )
        with self._lexical_lock:
            if self._lexical is lexical:
                self._lexical = None
        shutil.rmtree(self.lexical_dir / str(lexical.generation), ignore_errors=True)
        self.update_lexical_in_background()

    def search_bm25(
        self, words: list[str], n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``n`` passages holding any of ``words`` by BM25; higher score = better; only
        passages whose rowid is in ``within``, when given.

        From the BM25 index when it is current, else from FTS5 (BM25 too, but slow on large
        indexes: it walks every posting of every word).
        """
        if not words or (within is not None and not len(within)):
            return []
        lexical = self.lexical()
        if lexical is not None:
            try:
                return lexical.search(words, n, within)
            except (IndexError, ValueError, OSError) as exc:
                self._lexical_failed(lexical, exc)
        where, args = "", [fts_query(words)]
        if within is not None:
            where = " AND rowid IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(within.tolist()))
        try:
            rows = (
                self._text_db()
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

    def update_lexical(self) -> LexicalIndex:
        """Build (and save) the BM25 index of the current generation, unless it exists.

        Reads one consistent snapshot of SQLite, so a write meanwhile only makes the result
        stale (FTS5 then keeps answering). An index directory that cannot be written to keeps
        the result in memory only.
        """
        db = self._text_db()
        db.execute("BEGIN")
        try:
            row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            generation = int(row[0]) if row else 0
            current = self._lexical
            if current is not None and current.generation == generation:
                return current
            loaded = self._load_lexical(generation, db)
            lexical = loaded or LexicalIndex.build(
                db.execute("SELECT rowid, text FROM passages"), generation
            )
        finally:
            db.execute("COMMIT")
        if loaded is None:
            try:
                lexical.save(
                    self.lexical_dir,
                    publish=lambda files: self._record_bm25_checksums(generation, files, db),
                )
            except (OSError, sqlite3.OperationalError) as exc:
                log.warning("could not save the BM25 index in %s: %s", self.lexical_dir, exc)
        with self._lexical_lock:
            if self._lexical is None or self._lexical.generation < generation:
                self._lexical = lexical
        return lexical

    def update_lexical_in_background(self) -> None:
        """:meth:`update_lexical` on a daemon thread; FTS5 answers meanwhile. A call while a
        build runs makes that thread build once more when it is done, for the newer writes."""
        with self._lexical_lock:
            self._lexical_wanted = True
            self._start_lexical_builder()

    def _start_lexical_builder(self) -> None:
        """Start the builder thread unless it runs (hold ``_lexical_lock``)."""
        if self._lexical_builder is None:
            self._lexical_builder = threading.Thread(
                target=self._update_lexical_while_wanted, name="bm25-build", daemon=True
            )
            self._lexical_builder.start()

    def _update_lexical_while_wanted(self) -> None:
        while True:
            with self._lexical_lock:
                if not self._lexical_wanted:
                    self._lexical_builder = None
                    return
                self._lexical_wanted = False
            try:
                lexical = self.update_lexical()
                log.info(
                    "BM25 index ready: generation %d, %d passages", lexical.generation, len(lexical)
                )
            except Exception:  # a background thread has no caller to raise to
                log.exception("building the BM25 index failed; FTS5 keeps answering")

    # ---- writes --------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the cross-process writer lock (one indexer at a time per index)."""
        self._wait_verified()  # nothing is written over a file before it is checked
        with self._file_lock:
            with self._lock:
                # Another process may have written since we opened: start from its state.
                if self._generation() != self._seen_version:
                    self._clear_flags()
                    self.index = self._load_faiss()
                    self._reconcile()
                    self._seen_version = self._generation()
            yield

    def apply(
        self,
        upserts: Sequence[Upsert],
        deletes: Sequence[str] = (),
    ) -> None:
        """Atomically replace articles (with their passages and vectors) and delete others.

        Call inside :meth:`writing`. SQLite commits first; FAISS is then written to a temp
        file and renamed, so a crash in between is repaired by :meth:`_reconcile` on open.
        An index that outgrew its type is then rebuilt (:meth:`refit_faiss`).
        """
        with self._lock:
            new_ids: list[int] = []
            new_vectors: list[np.ndarray] = []
            old_rowids: list[int] = []
            with self._transaction() as db:
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
                db.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'"
                )
            self._forget(np.array(old_rowids, dtype=np.int64))
            if new_ids:
                self.index.add_with_ids(
                    np.vstack(new_vectors).astype(np.float32), np.array(new_ids, dtype=np.int64)
                )
            self._count_stale()
            self._save_faiss()
            self._seen_version = self._generation()
            self._clear_flags()
        self.refit_faiss()

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
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY url", args).fetchall()
        return [_url_source(r) for r in rows]

    def url_source(self, url: str) -> UrlSource | None:
        with self._lock:
            row = self._db.execute(
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
        with self._lock, self._transaction() as db:
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

    # ---- claims (never part of the index's generation) -----------------------------------
    def claim_once(self, keys: Sequence[str], window_seconds: float = 3600.0) -> bool:
        """Always True: one machine's processes de-duplicate in their own memory (the Slack
        bot does); claims across replicas need the shared store (PostgreSQL)."""
        return True

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
        with self._lock, self._transaction() as db:
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
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM feedback {where}", args).fetchone()[0]
            rows = self._db.execute(
                "SELECT id, created_at, question, answer_text, article_id, start, helpful,"
                f" comment, channel FROM feedback {where} ORDER BY id LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return total, [
            FeedbackRecord(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8]) for r in rows
        ]

    def close(self) -> None:
        self._verifier.join()
        builder = self._lexical_builder
        if builder is not None:
            builder.join()  # it reads through a connection closed below
        with self._lock:
            self._db.close()
        with self._text_lock:
            for db in self._text_dbs:
                db.close()
            self._text_dbs.clear()
