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
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock

from indexer.lexical import LexicalIndex
from qa.types import Article, Passage

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DB_NAME = "index.sqlite"
FAISS_NAME = "vectors.faiss"
LOCK_NAME = ".write.lock"
LEXICAL_DIR = "bm25"

# FAISS index type by size: a flat scan of fp16 codes up to EXACT_MAX_PASSAGES (a scan is
# memory-bound: half the bytes of fp32 is twice as fast, ~7 ms at 100k on one core), then IVF
# with 8-bit scalar quantisation (4x smaller than fp32, sub-linear search, and remove_ids works,
# unlike HNSW). Either way the candidates are re-scored with the exact fp32 vectors from
# SQLite. See bench/scale.py for recall@10 and memory.
EXACT_MAX_PASSAGES = 100_000
IVF_PROBE_SHARE = 4  # nprobe = nlist // IVF_PROBE_SHARE
RESCORED_CANDIDATES = 50  # at least this many candidates are re-scored per search
IVF_TRAIN_PER_LIST = 40
# A flat scan this large is split in parts searched on parallel threads (see FlatScan).
SPLIT_SCAN_MIN_PASSAGES = 20_000
SPLIT_SCAN_PARTS = min(2, os.cpu_count() or 1)
DF_CACHE_WORDS = 100_000  # document frequencies kept between writes

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


def ivf_lists(n: int) -> int:
    """IVF list count for ``n`` vectors: about sqrt(n), a power of two, in [64, 16384], and
    at most one list per 39 training vectors (FAISS's minimum; tiny corpora get fewer)."""
    ideal = int(min(16384, max(64, 2 ** round(np.log2(max(n, 1) ** 0.5)))))
    return max(1, min(ideal, min(n, ideal * IVF_TRAIN_PER_LIST) // 39))


def new_faiss_index(
    dim: int, n: int, exact_max: int = EXACT_MAX_PASSAGES, train: np.ndarray | None = None
) -> faiss.Index:
    """An empty FAISS index for about ``n`` unit vectors, keyed by passage rowid.

    Up to ``exact_max`` it is a flat scan of fp16 codes (``IndexIDMap2`` over an fp16
    ``IndexScalarQuantizer``); above it,
    ``IndexIVFScalarQuantizer`` (8-bit, inner product, see :func:`ivf_nprobe`), trained on
    ``train`` (a sample of the vectors, required then). The IVF index holds the rowids
    itself: ``IndexIDMap2`` cannot wrap it, as its ``remove_ids`` renumbers only flat indexes.

    Args:
        dim: vector dimension.
        n: how many vectors the index is built for.
        exact_max: the largest ``n`` that gets the exact index.
        train: training vectors (a sample of the corpus) for the approximate index.
    """
    if n <= exact_max:
        return faiss.IndexIDMap2(
            faiss.IndexScalarQuantizer(
                dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
        )
    if train is None or not len(train):
        raise ValueError("an approximate FAISS index needs training vectors")
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


class FlatScan:
    """A flat ``IndexIDMap2``'s codes cut into parts that are searched on parallel threads.

    One query's flat scan runs on one core (FAISS parallelises over queries), and it is bound
    by that core's memory throughput: at 100k fp16 codes, ~10 ms in one piece against ~5.5 ms
    as two halves on two cores, with the same, exact, results. The parts hold a copy of the
    codes: the index's size once more in memory.

    Args:
        index: ``IndexIDMap2`` over an ``IndexScalarQuantizer`` or ``IndexFlat``.
        parts: how many parts (and threads) to search.
        pool: runs every part but the first (which runs on the calling thread).
    """

    def __init__(self, index: faiss.IndexIDMap2, parts: int, pool: ThreadPoolExecutor) -> None:
        flat = faiss.downcast_index(index.index)
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        n, code_size = flat.ntotal, flat.code_size
        codes = faiss.rev_swig_ptr(flat.codes.data(), n * code_size)  # a view, not a copy
        bounds = np.linspace(0, n, parts + 1).astype(int)
        self.parts: list[tuple[faiss.Index, np.ndarray]] = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            if isinstance(flat, faiss.IndexScalarQuantizer):
                part = faiss.IndexScalarQuantizer(flat.d, flat.sq.qtype, flat.metric_type)
            else:
                part = faiss.IndexFlat(flat.d, flat.metric_type)
            faiss.copy_array_to_vector(codes[lo * code_size : hi * code_size], part.codes)
            part.ntotal = int(hi - lo)
            self.parts.append((part, ids[lo:hi]))
        self._pool = pool

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Like ``Index.search`` for one query: (scores, rowids), each of shape (1, <= k)."""
        later = [
            self._pool.submit(self._search_part, i, query, k) for i in range(1, len(self.parts))
        ]
        found = [self._search_part(0, query, k), *(f.result() for f in later)]
        scores = np.concatenate([s for s, _ in found])
        ids = np.concatenate([i for _, i in found])
        best = np.argsort(-scores, kind="stable")[:k]
        return scores[best][None], ids[best][None]

    def _search_part(self, i: int, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        part, ids = self.parts[i]
        scores, positions = part.search(query, min(k, part.ntotal))
        keep = positions[0] >= 0
        return scores[0][keep], ids[positions[0][keep]]


def _one_openmp_thread() -> None:
    faiss.omp_set_num_threads(1)


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


class IndexStore:
    """SQLite + FAISS index in one directory. Thread-safe; one writer process at a time.

    Args:
        directory: the index directory (created if missing).
        model: embedding model name recorded in (and checked against) the index.
        dim: embedding dimension recorded in (and checked against) the index.
    """

    def __init__(
        self, directory: Path, model: str, dim: int, *, exact_max: int = EXACT_MAX_PASSAGES
    ) -> None:
        self.directory = Path(directory)
        self.exact_max = exact_max
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
        self.split_scan_min = SPLIT_SCAN_MIN_PASSAGES
        self._scan: FlatScan | None = None
        self._scan_key: tuple[int, int, int] | None = None
        self._scan_pool: ThreadPoolExecutor | None = None

    # ---- set-up and recovery -------------------------------------------------------------
    def _init_schema(self) -> None:
        existing = dict(self._db.execute("SELECT name, type FROM sqlite_master").fetchall())
        if "meta" in existing:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            if int(meta.get("schema_version", SCHEMA_VERSION)) != SCHEMA_VERSION:
                raise IndexMismatchError(
                    f"index at {self.directory} has schema version {meta['schema_version']}, "
                    f"this program uses {SCHEMA_VERSION}: rebuild it into a new directory "
                    "(qa-index add ... --index NEW_DIR)"
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
                ("schema_version", str(SCHEMA_VERSION)),
                ("model", self.model),
                ("dim", str(self.dim)),
            ):
                db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')")

    def _new_faiss(self) -> faiss.Index:
        """An empty index of the type that suits the passages in SQLite (trained if needed)."""
        rowids = np.array(
            [r[0] for r in self._db.execute("SELECT rowid FROM passages")], dtype=np.int64
        )
        if len(rowids) <= self.exact_max:
            return new_faiss_index(self.dim, len(rowids), self.exact_max)
        size = min(len(rowids), ivf_lists(len(rowids)) * IVF_TRAIN_PER_LIST)
        sample = np.random.default_rng(0).choice(rowids, size, replace=False).tolist()
        train = np.vstack(
            [self._vectors_from_db(sample[lo : lo + 10_000])[1] for lo in range(0, size, 10_000)]
        )
        return new_faiss_index(self.dim, len(rowids), self.exact_max, train)

    def _load_faiss(self) -> faiss.Index:
        if not self.faiss_path.exists():
            return self._new_faiss()
        try:
            index = faiss.read_index(str(self.faiss_path))
        except RuntimeError:
            # A torn or foreign file: SQLite holds every vector, so rebuild from it.
            return self._new_faiss()
        if index.d != self.dim:
            raise IndexMismatchError(
                f"{self.faiss_path} holds {index.d}-dim vectors, the model gives {self.dim}"
            )
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = ivf_nprobe(index.nlist)
        return index

    def _faiss_ids(self) -> np.ndarray:
        return faiss_ids(self.index)

    def _rebuild_faiss_if_outgrown(self) -> None:
        """Switch an exact index that grew past ``exact_max`` to the approximate type, and
        retrain an approximate one whose corpus grew fourfold (twice the ideal list count)."""
        n = self.index.ntotal
        if isinstance(self.index, faiss.IndexIDMap2):
            outgrown = n > self.exact_max
        else:
            outgrown = ivf_lists(n) >= 2 * faiss.extract_index_ivf(self.index).nlist
        if outgrown:
            self.index = self._new_faiss()
            rowids = [r[0] for r in self._db.execute("SELECT rowid FROM passages")]
            self._add_vectors_from_db(rowids)

    def _reconcile(self) -> None:
        """Make FAISS hold exactly the passages in SQLite (after a crash between the two)."""
        db_ids = np.array(
            [r[0] for r in self._db.execute("SELECT rowid FROM passages")], dtype=np.int64
        )
        faiss_ids = self._faiss_ids()
        if np.array_equal(np.sort(faiss_ids), np.sort(db_ids)):
            return  # the usual case, checked by sorting: np.setdiff1d takes ~1 s at 100k ids
        extra = np.setdiff1d(faiss_ids, db_ids)
        missing = np.setdiff1d(db_ids, faiss_ids)
        if not len(extra) and not len(missing) and len(faiss_ids) == len(np.unique(faiss_ids)):
            return
        if len(faiss_ids) != len(np.unique(faiss_ids)):
            self.index = self._new_faiss()
            missing = db_ids
        elif len(extra):
            self.index.remove_ids(extra)
        if len(missing):
            self._add_vectors_from_db(missing.tolist())
        self._save_faiss()

    def _vectors_from_db(self, rowids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, vectors) of the passages with these rowids (at most 10,000 per call)."""
        marks = ",".join("?" * len(rowids))
        rows = self._db.execute(
            f"SELECT rowid, vector FROM passages WHERE rowid IN ({marks})", list(rowids)
        ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, vectors.reshape(len(rows), self.dim)

    def _add_vectors_from_db(self, rowids: Sequence[int]) -> None:
        for lo in range(0, len(rowids), 10_000):
            self.index.add_with_ids(*self._vectors_from_db(rowids[lo : lo + 10_000])[::-1])

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
        if db_count != self.index.ntotal:
            # The writer is between its commit and its rename: take vectors from SQLite.
            faiss_ids = self._faiss_ids()
            db_ids = np.array(
                [r[0] for r in self._db.execute("SELECT rowid FROM passages")], dtype=np.int64
            )
            extra = np.setdiff1d(faiss_ids, db_ids)
            if len(extra):
                self.index.remove_ids(extra)
            missing = np.setdiff1d(db_ids, faiss_ids)
            if len(missing):
                self._add_vectors_from_db(missing.tolist())

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
                "SELECT id, title, url, text, meta, source FROM articles WHERE id=?",
                (article_id,),
            ).fetchone()
        if row is None:
            return None
        return Article(
            id=row[0], title=row[1], url=row[2], text=row[3], meta=json.loads(row[4]), source=row[5]
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
        ids = list(set(article_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, title, url FROM articles WHERE id IN ({marks})", ids
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def search_dense(self, query: np.ndarray, n: int) -> list[tuple[int, float]]:
        """Top ``n`` passages by inner product with the (normalised) query vector."""
        query = query.reshape(1, -1).astype(np.float32)
        with self._lock:
            if self.index.ntotal == 0:
                return []
            # Indexes written before fp16 codes hold the fp32 vectors: their scores are exact.
            exact = isinstance(self.index, faiss.IndexIDMap2) and isinstance(
                faiss.downcast_index(self.index.index), faiss.IndexFlat
            )
            # One query is memory-bound: more OpenMP threads only contend (2.5x slower on 2
            # busy cores). This sets the calling thread's count only, restored after.
            threads = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
            scan = self._flat_scan()
            try:
                scores, ids = (scan or self.index).search(
                    query, n if exact else max(n, RESCORED_CANDIDATES)
                )
            finally:
                faiss.omp_set_num_threads(threads)
            if not exact:  # re-score the candidates with the exact vectors
                found, vectors = self._vectors_from_db([int(i) for i in ids[0] if i >= 0])
                exact_scores = vectors @ query[0]
                best = np.argsort(-exact_scores, kind="stable")[:n]
                return [(int(found[i]), float(exact_scores[i])) for i in best]
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _flat_scan(self) -> FlatScan | None:
        """The current flat index split for a parallel scan, when it is large enough to gain
        (rebuilt after any change to the index; call with ``self._lock`` held)."""
        if (
            SPLIT_SCAN_PARTS < 2
            or self.index.ntotal < self.split_scan_min
            or not isinstance(self.index, faiss.IndexIDMap2)
        ):
            return None
        key = (self._seen_version, self.index.ntotal, id(self.index))
        if self._scan is None or self._scan_key != key:
            if self._scan_pool is None:
                self._scan_pool = ThreadPoolExecutor(
                    SPLIT_SCAN_PARTS - 1, "faiss-scan", initializer=_one_openmp_thread
                )
            self._scan = None  # let the old copy go before making the new one
            self._scan = FlatScan(self.index, SPLIT_SCAN_PARTS, self._scan_pool)
            self._scan_key = key
        return self._scan

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

    def search_bm25(self, words: list[str], n: int) -> list[tuple[int, float]]:
        """Top ``n`` passages holding any of ``words`` by BM25; higher score = better.

        From the BM25 index when it is current, else from FTS5 (BM25 too, but slow on large
        indexes: it walks every posting of every word).
        """
        if not words:
            return []
        lexical = self.lexical()
        if lexical is not None:
            return lexical.search(words, n)
        rows = (
            self._text_db()
            .execute(
                "SELECT rowid, bm25(passages_fts) FROM passages_fts WHERE passages_fts MATCH ? "
                "ORDER BY bm25(passages_fts) LIMIT ?",
                (fts_query(words), n),
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
                        " added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            article.id,
                            article.title,
                            article.url,
                            article.text,
                            json.dumps(article.meta, ensure_ascii=False),
                            article.source,
                            article.content_hash,
                            now,
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
            if old_rowids:
                self.index.remove_ids(np.array(old_rowids, dtype=np.int64))
            if new_ids:
                self.index.add_with_ids(
                    np.vstack(new_vectors).astype(np.float32), np.array(new_ids, dtype=np.int64)
                )
            self._rebuild_faiss_if_outgrown()
            self._save_faiss()
            self._seen_version = self._generation()

    def close(self) -> None:
        builder = self._lexical_builder
        if builder is not None:
            builder.join()  # it reads through a connection closed below
        with self._lock:
            self._db.close()
            self._scan = None
            if self._scan_pool is not None:
                self._scan_pool.shutdown()
        with self._text_lock:
            for db in self._text_dbs:
                db.close()
            self._text_dbs.clear()
