"""The on-disk index: one SQLite database (articles, passages, vectors, FTS5, metadata),
one FAISS file (``IndexIDMap2`` keyed by passage rowid) and one BM25 index per generation.

SQLite is the source of truth: each passage row keeps its vector, so the FAISS file is a
derived, rebuildable view. Every write is one SQLite transaction; the FAISS file is written
to a temp file and renamed after the commit. On open, FAISS is reconciled with SQLite, so a
crash anywhere leaves an index that opens consistent (the old or the new state).

The BM25 index (:mod:`indexer.lexical`) is derived too, and rebuilt after writes (seconds at
100k passages). It answers only for the generation it was built from; until the one for the
current generation exists, BM25 queries go to SQLite's FTS5 table, which is always current.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock

from indexer.lexical import LexicalIndex
from qa.types import Article, Passage

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
    added_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_url ON articles(url);
CREATE TABLE IF NOT EXISTS passages (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
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


def fts_query(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: the words, quoted, OR-ed."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


class IndexMismatchError(RuntimeError):
    """The index on disk was built with another model or schema."""


@dataclass(frozen=True)
class StoredPassage:
    rowid: int
    article_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ArticleSummary:
    id: str
    title: str
    url: str | None
    passages: int
    chars: int


@dataclass(frozen=True)
class UrlSource:
    """What the index remembers of a URL it fetched (see :mod:`indexer.web`)."""

    url: str
    kind: str  # "page", "feed" or "sitemap"
    root: bool  # given to `qa-index add` (or POST /api/sources): `refresh` re-reads it
    parent: str | None  # the feed or sitemap it was found in
    allow_private: bool  # whether it may be fetched from a private or loopback address
    etag: str | None
    last_modified: str | None
    content_hash: str | None  # of the body, to skip an unchanged one without a 304
    article_id: str | None  # the article a page became
    checked_at: float  # Unix time of the last fetch


_URL_SOURCE_COLUMNS = (
    "url, kind, root, parent, allow_private, etag, last_modified, content_hash, article_id,"
    " checked_at"
)


def _url_source(row: Sequence) -> UrlSource:
    return UrlSource(row[0], row[1], bool(row[2]), row[3], bool(row[4]), *row[5:])


@dataclass(frozen=True)
class FeedbackRecord:
    """What a reader said of one answer: helpful or not, with an optional comment."""

    id: int
    created_at: float  # Unix time
    question: str
    answer_text: str
    article_id: str
    start: int | None  # the answer's offset in the article, when the client sent it
    helpful: bool
    comment: str | None
    channel: str  # where it was given: "web", "slack" or "api"


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
        self.directory.mkdir(parents=True, exist_ok=True)
        self.model, self.dim = model, dim
        self.db_path = self.directory / DB_NAME
        self.faiss_path = self.directory / FAISS_NAME
        # One lock for this process's threads, one file lock across processes.
        self._lock = threading.RLock()
        self._file_lock = FileLock(str(self.directory / LOCK_NAME))
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._file_lock:
            self._init_schema()
            self.index = self._load_faiss()
            self._reconcile()
        self._seen_version = self._generation()
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
        self._lexical = LexicalIndex.load(self.lexical_dir, self._seen_version)
        self._lexical_lock = threading.Lock()  # loading or swapping self._lexical
        self._lexical_builder: threading.Thread | None = None  # see update_lexical_in_background
        self._lexical_wanted = False

    # ---- set-up and recovery -------------------------------------------------------------
    def _init_schema(self) -> None:
        existing = dict(self._db.execute("SELECT name, type FROM sqlite_master").fetchall())
        if "meta" in existing:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            if int(meta.get("schema_version", SCHEMA_VERSION)) > SCHEMA_VERSION:
                raise IndexMismatchError(
                    f"index at {self.directory} has schema version {meta['schema_version']}, "
                    f"this program uses {SCHEMA_VERSION} (older): upgrade the program, or "
                    "rebuild the index into a new directory (qa-index add ... --index NEW_DIR)"
                )
            if (
                meta.get("model", self.model) != self.model
                or int(meta.get("dim", self.dim)) != self.dim
            ):
                raise IndexMismatchError(
                    f"index at {self.directory} was built with model {meta.get('model')} "
                    f"(dim {meta.get('dim')}), but the configured model is {self.model} "
                    f"(dim {self.dim}): use the same model or rebuild the index"
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

    def _load_faiss(self) -> faiss.Index:
        if not self.faiss_path.exists():
            # Filled from SQLite by the reconciliation that follows.
            return self._new_faiss(self._db_rowids())
        try:
            index = faiss.read_index(str(self.faiss_path))
        except RuntimeError:
            # A torn or foreign file: SQLite holds every vector, so rebuild from it.
            return self._new_faiss(self._db_rowids())
        if index.d != self.dim:
            raise IndexMismatchError(
                f"{self.faiss_path} holds {index.d}-dim vectors, the model gives {self.dim}"
            )
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = ivf_nprobe(index.nlist)
        elif is_hnsw(index):
            faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH
        return index

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
        if np.array_equal(np.sort(faiss_ids), np.sort(db_ids)):
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
        """(rowids, vectors) of the passages with these rowids (at most 10,000 per call)."""
        marks = ",".join("?" * len(rowids))
        rows = (
            (db or self._db)
            .execute(f"SELECT rowid, vector FROM passages WHERE rowid IN ({marks})", list(rowids))
            .fetchall()
        )
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

    def _save_faiss(self) -> None:
        tmp = self.faiss_path.with_suffix(".faiss.tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.faiss_path)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def _generation(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def refresh(self) -> bool:
        """Reload FAISS if another process wrote to the index since we last looked."""
        with self._lock:
            generation = self._generation()
            if generation == self._seen_version:
                return False
            self.index = self._load_faiss()
            self._reconcile_readonly()
            self._seen_version = generation
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

    def existing_vectors(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of passages that are already indexed (reused, not re-embedded)."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for lo in range(0, len(passage_ids), 500):
                chunk = list(passage_ids[lo : lo + 500])
                marks = ",".join("?" * len(chunk))
                for pid, blob in self._db.execute(
                    f"SELECT id, vector FROM passages WHERE id IN ({marks})", chunk
                ):
                    found[pid] = np.frombuffer(blob, dtype=np.float32)
        return found

    def get_article(self, article_id: str) -> Article | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, title, url, text, meta, source, published FROM articles WHERE id=?",
                (article_id,),
            ).fetchone()
        if row is None:
            return None
        return Article(
            id=row[0],
            title=row[1],
            url=row[2],
            text=row[3],
            meta=json.loads(row[4]),
            source=row[5],
            published=row[6],
        )

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
            return lexical.document_frequency(word), len(lexical)
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

    def passages(self, rowids: Sequence[int]) -> dict[int, StoredPassage]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, article_id, start, end, text FROM passages "
                f"WHERE rowid IN ({marks})",
                list(rowids),
            ).fetchall()
        return {r[0]: StoredPassage(*r) for r in rows}

    def article_refs(self, article_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        return {r[0]: (r[1], r[2]) for r in self._article_rows(article_ids, "id, title, url")}

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

    def lexical(self) -> LexicalIndex | None:
        """The BM25 index of the current generation, if it has been built (by any process)."""
        generation = self._seen_version
        lexical = self._lexical
        if lexical is not None and lexical.generation == generation:
            return lexical
        if not (self.lexical_dir / str(generation)).is_dir():
            return None
        with self._lexical_lock:
            if self._lexical is None or self._lexical.generation != generation:
                loaded = LexicalIndex.load(self.lexical_dir, generation)
                if loaded is None:
                    return None
                self._lexical = loaded
            return self._lexical

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
            return lexical.search(words, n, within)
        where, args = "", [fts_query(words)]
        if within is not None:
            where = " AND rowid IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(within.tolist()))
        rows = (
            self._text_db()
            .execute(
                "SELECT rowid, bm25(passages_fts) FROM passages_fts WHERE passages_fts MATCH ?"
                f"{where} ORDER BY bm25(passages_fts) LIMIT ?",
                (*args, n),
            )
            .fetchall()
        )
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
            loaded = LexicalIndex.load(self.lexical_dir, generation)
            lexical = loaded or LexicalIndex.build(
                db.execute("SELECT rowid, text FROM passages"), generation
            )
        finally:
            db.execute("COMMIT")
        if loaded is None:
            try:
                lexical.save(self.lexical_dir)
            except OSError as exc:
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
        with self._file_lock:
            with self._lock:
                # Another process may have written since we opened: start from its state.
                if self._generation() != self._seen_version:
                    self.index = self._load_faiss()
                    self._reconcile()
                    self._seen_version = self._generation()
            yield

    def apply(
        self,
        upserts: Sequence[tuple[Article, Sequence[Passage], np.ndarray]],
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
                    db.execute(
                        "INSERT INTO articles(id, title, url, text, meta, source, content_hash,"
                        " added_at, published) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            article.id,
                            article.title,
                            article.url,
                            article.text,
                            json.dumps(article.meta, ensure_ascii=False),
                            article.source,
                            article.content_hash,
                            now,
                            article.published,
                        ),
                    )
                    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
                    for passage, vector in zip(passages, vectors, strict=True):
                        cur = db.execute(
                            "INSERT OR IGNORE INTO passages(id, article_id, start, end, text,"
                            " vector) VALUES (?, ?, ?, ?, ?, ?)",
                            (
                                passage.id,
                                article.id,
                                passage.start,
                                passage.end,
                                passage.text,
                                vector.tobytes(),
                            ),
                        )
                        if cur.rowcount:
                            new_ids.append(int(cur.lastrowid))
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
            rowid = int(cur.lastrowid)
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
        return total, [FeedbackRecord(*r[:6], bool(r[6]), *r[7:]) for r in rows]

    def close(self) -> None:
        builder = self._lexical_builder
        if builder is not None:
            builder.join()  # it reads through a connection closed below
        with self._lock:
            self._db.close()
        with self._text_lock:
            for db in self._text_dbs:
                db.close()
            self._text_dbs.clear()
