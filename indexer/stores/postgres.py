"""The index in PostgreSQL with pgvector, shared by any number of ``qa-serve`` replicas.

Articles, passages and their vectors are rows; an HNSW index (inner product) serves dense
search. The lexical side is BM25 as the embedded store scores it, over the same terms
(:mod:`core.text.terms`): a postings table (term, passage, term frequency, passage length)
and each term's document frequency, both written in the passage's transaction. A query reads
its terms' postings packed into arrays (``term_postings``, one row per term, built from the
postings on first use and stamped with the term's version) and scores them in numpy: about
5 ms at 100k passages, against about 20 ms summing the postings in SQL and 160 ms for
PostgreSQL's own full-text ranking (``ts_rank``, which is not BM25 either).

Every write is one transaction that also bumps ``qa_meta.generation``: a replica sees
another's write on its next ask (:meth:`PostgresStore.refresh` reads the generation), so
nothing is cached across a write. One writer at a time holds a session advisory lock
(:meth:`PostgresStore.writing`). The schema is versioned in ``qa_meta`` and migrated on
start, under the same lock.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from core.text.terms import K1, MIN_TERM_SCORE, B, passage_terms, terms
from core.types import Article, Passage
from indexer.stores.base import (
    ArticleSummary,
    FeedbackRecord,
    IndexMismatchError,
    StoredPassage,
    Upsert,
    UrlSource,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
WRITER_LOCK = 0x51A1_0001  # pg_advisory_lock key: one writer (and one migrator) at a time
EF_SEARCH = 100  # HNSW candidates per search (pgvector's default is 40; QA_PG_EF_SEARCH)
DF_CACHE_TERMS = 100_000
WITHIN_CACHE_SIZE = 32
REFS_CACHE_ARTICLES = 100_000


def public_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _array(value: object) -> np.ndarray:
    """A vector column's value as float32 (pgvector gives a ``Vector`` or an array)."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float32)


# BM25's postings: a passage's terms, each with its count there and the passage's length in
# terms (so a query reads the index alone); each term's document frequency.
_POSTINGS = (
    """CREATE TABLE passage_terms (
        term TEXT NOT NULL,
        key BIGINT NOT NULL,
        tf INTEGER NOT NULL,
        dl INTEGER NOT NULL
    )""",
    "CREATE INDEX passage_terms_term ON passage_terms(term) INCLUDE (key, tf, dl)",
    "CREATE INDEX passage_terms_key ON passage_terms(key)",
    # version: see _POSTING_ARRAYS
    "CREATE TABLE term_stats (term TEXT PRIMARY KEY, df INTEGER NOT NULL,"
    " version BIGINT NOT NULL DEFAULT 0)",
)
# BM25's corpus totals in qa_meta, kept with the postings: passages, and terms in all of them.
_BM25_TOTALS = (("bm25_passages", "0"), ("bm25_terms", "0"))

# Each term's postings also as three packed arrays (passage keys, term frequencies, passage
# lengths), which a query reads in one round trip and scores in numpy. They are built
# on first use from the postings, stamped with the term's version (term_stats.version, which
# every write of the term's postings increases): a stale copy is never read.
_ARRAYS = ("keys", "tfs", "dls")
_POSTING_ARRAYS = (
    "ALTER TABLE term_stats ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 0",
    """CREATE TABLE term_postings (
        term TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        keys BYTEA NOT NULL,
        tfs BYTEA NOT NULL,
        dls BYTEA NOT NULL
    )""",
    # uncompressed: read whole on every query (at 100k passages, 0.6 ms less per query)
    *(f"ALTER TABLE term_postings ALTER COLUMN {c} SET STORAGE EXTERNAL" for c in _ARRAYS),
)
_KEY, _COUNT = np.dtype("<i8"), np.dtype("<i4")


def _schema(dim: int) -> tuple[str, ...]:
    """The schema as a new database gets it (the latest version)."""
    return (
        "CREATE EXTENSION IF NOT EXISTS vector",
        """CREATE TABLE articles (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            url TEXT,
            text TEXT NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}',
            source TEXT,
            content_hash TEXT NOT NULL,
            published TEXT,
            added_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX articles_url ON articles(url)",
        "CREATE INDEX articles_published ON articles(published)",
        f"""CREATE TABLE passages (
            key BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            start_char INTEGER NOT NULL,
            end_char INTEGER NOT NULL,
            text TEXT NOT NULL,
            embedding vector({int(dim)}) NOT NULL,
            term_count INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX passages_article ON passages(article_id)",
        "CREATE INDEX passages_embedding ON passages USING hnsw (embedding vector_ip_ops)"
        " WITH (m = 16, ef_construction = 100)",
        *_POSTINGS,
        *_POSTING_ARRAYS,
        """CREATE TABLE url_sources (
            url TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            root BOOLEAN NOT NULL DEFAULT FALSE,
            parent TEXT,
            allow_private BOOLEAN NOT NULL DEFAULT FALSE,
            etag TEXT,
            last_modified TEXT,
            content_hash TEXT,
            article_id TEXT,
            checked_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX url_sources_parent ON url_sources(parent)",
        """CREATE TABLE feedback (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            question TEXT NOT NULL,
            answer_text TEXT NOT NULL,
            article_id TEXT NOT NULL,
            start_char INTEGER,
            helpful BOOLEAN NOT NULL,
            comment TEXT,
            channel TEXT NOT NULL
        )""",
        # Keys claimed once across replicas (Slack events answered once: see claim_once).
        "CREATE TABLE claims (key TEXT PRIMARY KEY, claimed_at DOUBLE PRECISION NOT NULL)",
    )


# Each step takes the schema from the version before it to its own; a version that adds
# postings has them computed for the passages already stored (_MIGRATIONS_BACKFILL).
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: BM25 postings instead of the full-text column
    2: (
        "ALTER TABLE passages DROP COLUMN tsv",
        "ALTER TABLE passages ADD COLUMN term_count INTEGER NOT NULL DEFAULT 0",
        *_POSTINGS,
    ),
    # 3: BM25's corpus totals kept in qa_meta (a replica no longer counts them after writes)
    3: (
        "INSERT INTO qa_meta SELECT 'bm25_passages', count(*)::text FROM passages",
        "INSERT INTO qa_meta SELECT 'bm25_terms', coalesce(sum(term_count), 0)::text FROM passages",
    ),
    # 4: each term's postings packed into arrays, read in one go
    4: _POSTING_ARRAYS,
}
_MIGRATIONS_BACKFILL = frozenset({2})

_URL_SOURCE_COLUMNS = (
    "url, kind, root, parent, allow_private, etag, last_modified, content_hash, article_id,"
    " checked_at"
)


class PostgresStore:
    """The index in the PostgreSQL database at ``url`` (see the module docstring).

    Args:
        url: a libpq connection URL, ``postgresql://user:password@host:port/database``.
        model: embedding model name recorded in (and checked against) the database.
        dim: embedding dimension recorded in (and checked against) the database.
        pool_size: connections kept open (asks run side by side on them).
        ef_search: HNSW candidates per vector search (``hnsw.ef_search``).
    """

    def __init__(
        self, url: str, model: str, dim: int, *, pool_size: int = 4, ef_search: int = EF_SEARCH
    ) -> None:
        self.url, self.model, self.dim = url, model, dim
        self.ef_search = int(ef_search)
        self.location = public_url(url)
        # The schema first, on a connection of its own: the pool's connections register
        # the vector type, which needs the extension.
        with psycopg.connect(url, autocommit=True) as db:
            self._migrate(db)
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            configure=self._configure,
            open=True,
            name="qa-index",
        )
        self._writer: psycopg.Connection | None = None  # holds the advisory lock in writing()
        self._writer_thread: int | None = None
        self._writer_lock = threading.RLock()
        self._flagged_passages: set[int] = set()
        self._flag_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._df_cache: dict[str, int] = {}  # term -> passages holding it, this generation
        self._totals = (0, 1.0)  # passages and their mean length in terms, this generation
        self._within_cache: dict[tuple[str | None, str | None], np.ndarray] = {}
        self._refs_cache: dict[str, tuple[str, str | None, str | None]] = {}
        self._cached_generation = -1
        self._seen = self._read_generation()

    def _configure(self, db: psycopg.Connection) -> None:
        register_vector(db)
        db.execute(f"SET hnsw.ef_search = {self.ef_search}")

    def _migrate(self, db: psycopg.Connection) -> None:
        db.execute("SELECT pg_advisory_lock(%s)", (WRITER_LOCK,))
        try:
            with db.transaction():
                db.execute("CREATE TABLE IF NOT EXISTS qa_meta (key TEXT PRIMARY KEY, value TEXT)")
                meta: dict[str, str] = dict(db.execute("SELECT key, value FROM qa_meta").fetchall())
                version = int(meta.get("schema_version", 0))
                if version > SCHEMA_VERSION:
                    reason = (
                        f"the database has schema version {version}, this program uses "
                        f"{SCHEMA_VERSION} (older)"
                    )
                    raise IndexMismatchError(
                        f"{self.location}: {reason}: upgrade the program", reason
                    )
                if version and (meta.get("model"), meta.get("dim")) != (self.model, str(self.dim)):
                    reason = (
                        f"the index was built with model {meta.get('model')} (dim "
                        f"{meta.get('dim')}), but the configured model is {self.model} "
                        f"(dim {self.dim})"
                    )
                    raise IndexMismatchError(
                        f"{self.location}: {reason}: use the same model or another database",
                        reason,
                    )
                if version == 0:
                    for statement in _schema(self.dim):
                        db.execute(statement)
                    for key, value in (
                        ("model", self.model),
                        ("dim", str(self.dim)),
                        ("generation", "0"),
                        *_BM25_TOTALS,
                    ):
                        db.execute("INSERT INTO qa_meta VALUES (%s, %s)", (key, value))
                    version = SCHEMA_VERSION
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS[step]:
                        db.execute(statement)
                    if step in _MIGRATIONS_BACKFILL:
                        self._backfill_postings(db)
                db.execute(
                    "INSERT INTO qa_meta VALUES ('schema_version', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(SCHEMA_VERSION),),
                )
        finally:
            db.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK,))

    @staticmethod
    def _backfill_postings(db: psycopg.Connection, batch: int = 2000) -> None:
        """Postings for every stored passage (a migration that adds them)."""
        after, added = -1, 0
        while True:
            rows = db.execute(
                "SELECT key, text FROM passages WHERE key > %s ORDER BY key LIMIT %s",
                (after, batch),
            ).fetchall()
            if not rows:
                break
            after = rows[-1][0]
            counted = [(int(key), passage_terms(text)) for key, text in rows]
            db.cursor().executemany(
                "UPDATE passages SET term_count = %s WHERE key = %s",
                [(len(all_terms), key) for key, all_terms in counted],
            )
            _write_postings(db, counted)
            added += len(rows)
        log.info("BM25 postings computed for %d stored passages", added)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """The writer's connection inside :meth:`writing` on its thread, else one from the
        pool (so reads in a write see the writer's own state)."""
        writer = self._writer
        if writer is not None and self._writer_thread == threading.get_ident():
            yield writer
            return
        with self._pool.connection() as db:
            yield db

    def _rows(self, sql: str, args: Sequence[object] = (), *, binary: bool = False) -> list[tuple]:
        with self._connection() as db:
            return db.execute(sql, args, binary=binary).fetchall()

    def _read_generation(self) -> int:
        row = self._rows("SELECT value FROM qa_meta WHERE key = 'generation'")
        return int(row[0][0]) if row else 0

    # ---- the index ------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._writer_lock:
            if self._writer is not None:  # re-entered on this thread
                yield
                return
            with self._pool.connection() as db:
                db.execute("SELECT pg_advisory_lock(%s)", (WRITER_LOCK,))
                self._writer, self._writer_thread = db, threading.get_ident()
                try:
                    yield
                finally:
                    self._writer, self._writer_thread = None, None
                    db.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK,))
            self.refresh()

    def apply(self, upserts: Sequence[Upsert], deletes: Sequence[str] = ()) -> None:
        replaced = [a.id for a, _, _ in upserts] + list(deletes)
        now = time.time()
        with self.writing(), self._connection() as db, db.transaction():
            if replaced:
                _delete_postings(db, replaced)
                # Passages go with their article (ON DELETE CASCADE).
                db.execute("DELETE FROM articles WHERE id = ANY(%s)", (replaced,))
            with db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO articles(id, title, url, text, meta, source, content_hash,"
                    " published, added_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            a.id,
                            a.title,
                            a.url,
                            a.text,
                            json.dumps(a.meta, ensure_ascii=False),
                            a.source,
                            a.content_hash,
                            a.published,
                            now,
                        )
                        for a, _, _ in upserts
                    ],
                )
                new = [
                    (article.id, p, v)
                    for article, passages, vectors in upserts
                    for p, v in zip(passages, vectors, strict=True)
                ]
                passage_term_lists = [passage_terms(p.text) for _, p, _ in new]
                rows = [
                    (p.id, article_id, p.start, p.end, p.text, np.asarray(v, np.float32), len(t))
                    for (article_id, p, v), t in zip(new, passage_term_lists, strict=True)
                ]
                if rows:
                    cur.executemany(
                        "INSERT INTO passages(id, article_id, start_char, end_char, text,"
                        " embedding, term_count) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT (id) DO NOTHING RETURNING key",
                        rows,
                        returning=True,
                    )
                    # A passage already stored (ON CONFLICT) returns no key: it has postings.
                    inserted: list[tuple[int, list[str]]] = []
                    for passage_term_list in passage_term_lists:
                        key = cur.fetchone()
                        if key is not None:
                            inserted.append((int(key[0]), passage_term_list))
                        cur.nextset()
                    _write_postings(db, inserted)
            db.execute(
                "UPDATE qa_meta SET value = (value::bigint + 1)::text WHERE key = 'generation'"
            )

    def read_articles(self, article_ids: Iterable[str]) -> dict[str, Article]:
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        rows = self._rows(
            "SELECT id, title, url, text, meta, source, published FROM articles WHERE id = ANY(%s)",
            (ids,),
        )
        return {
            r[0]: Article(
                id=r[0],
                title=r[1],
                url=r[2],
                text=r[3],
                meta=json.loads(r[4] or "{}"),
                source=r[5],
                published=r[6],
            )
            for r in rows
        }

    def export(self, batch: int = 500) -> Iterator[list[Upsert]]:
        after = ""
        while True:
            ids = [
                r[0]
                for r in self._rows(
                    "SELECT id FROM articles WHERE id > %s ORDER BY id LIMIT %s", (after, batch)
                )
            ]
            if not ids:
                return
            after = ids[-1]
            articles = self.read_articles(ids)
            rows = self._rows(
                "SELECT article_id, start_char, end_char, text, embedding FROM passages"
                " WHERE article_id = ANY(%s) ORDER BY article_id, start_char",
                (ids,),
            )
            by_article: dict[str, list[tuple[Passage, np.ndarray]]] = {}
            for article_id, start, end, text, embedding in rows:
                passage = Passage(article_id=article_id, start=start, end=end, text=text)
                by_article.setdefault(article_id, []).append((passage, _array(embedding)))
            yield [
                (
                    article,
                    [p for p, _ in by_article.get(article.id, [])],
                    np.vstack([v for _, v in by_article[article.id]])
                    if article.id in by_article
                    else np.zeros((0, self.dim), np.float32),
                )
                for article in (articles[i] for i in ids if i in articles)
            ]

    def get_article(self, article_id: str) -> Article | None:
        return self.read_articles([article_id]).get(article_id)

    def list_articles(
        self, offset: int = 0, limit: int = 50, query: str | None = None
    ) -> tuple[int, list[ArticleSummary]]:
        where, args = "", []
        query = (query or "").replace("\x00", "")  # PostgreSQL text holds no NUL
        if query:
            where = "WHERE a.title ILIKE %s OR a.id ILIKE %s"
            pattern = (
                "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            args = [pattern, pattern]
        total = self._rows(f"SELECT count(*) FROM articles a {where}", args)[0][0]
        rows = self._rows(
            f"""SELECT a.id, a.title, a.url, length(a.text),
                       (SELECT count(*) FROM passages p WHERE p.article_id = a.id)
                FROM articles a {where} ORDER BY lower(a.title), a.id LIMIT %s OFFSET %s""",
            [*args, limit, offset],
        )
        return total, [ArticleSummary(r[0], r[1], r[2], r[4], r[3]) for r in rows]

    def counts(self) -> tuple[int, int]:
        row = self._rows("SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages)")
        return int(row[0][0]), int(row[0][1])

    def search_dense(
        self, query: np.ndarray, n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if within is None:
            rows = self._rows(
                "SELECT key, -(embedding <#> %s) FROM passages ORDER BY embedding <#> %s LIMIT %s",
                (vector, vector, n),
                binary=True,  # the vector sent as floats, not parsed from text: 3 ms less
            )
        elif not len(within):
            return []
        else:
            # Exact among the passages allowed: "+ 0" keeps the planner off the HNSW index,
            # whose filtered scan may return fewer than n.
            rows = self._rows(
                "SELECT key, -(embedding <#> %s) FROM passages WHERE key = ANY(%s)"
                " ORDER BY (embedding <#> %s) + 0 LIMIT %s",
                (vector, within.tolist(), vector, n),
                binary=True,
            )
        return [(int(r[0]), float(r[1])) for r in rows]

    def search_bm25(
        self, words: list[str], n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """BM25 over the postings, scored as the embedded store scores it (see the module
        docstring): the ``n`` best passages holding any of ``words``."""
        if not words or n <= 0 or (within is not None and not len(within)):
            return []
        postings = self._postings(list(dict.fromkeys(terms(words))))
        if not postings:
            return []
        with self._cache_lock:
            self._caches_current()
            passages, mean_length = self._totals
        keys, scores = [], []
        for df, term_keys, tfs, lengths in postings:
            norm = K1 * (1 - B + B * lengths / mean_length)
            scores.append(np.maximum(_idf(df, passages) * tfs / (tfs + norm), MIN_TERM_SCORE))
            keys.append(term_keys)
        return _best(np.concatenate(keys), np.concatenate(scores), n, within)

    def _postings(
        self, query_terms: list[str]
    ) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(document frequency, passage keys, term frequencies, passage lengths) of each of
        ``query_terms`` found in a passage; arrays built from the postings where the stored
        ones are missing or stale (and stored, for the next query)."""
        rows = self._rows(
            "SELECT s.term, s.df, p.keys, p.tfs, p.dls FROM term_stats s LEFT JOIN term_postings p"
            " ON p.term = s.term AND p.version = s.version WHERE s.term = ANY(%s) AND s.df > 0",
            (query_terms,),
            binary=True,  # the arrays as they are stored, not as hex text
        )
        # the reranker asks for these next
        self._remember_frequencies(dict.fromkeys(query_terms, 0) | {r[0]: r[1] for r in rows})
        found = [(int(df), keys, tfs, dls) for term, df, keys, tfs, dls in rows if keys is not None]
        missing = [term for term, _, keys, _, _ in rows if keys is None]
        if missing:
            # One statement, so the version stamped is the one these postings have.
            built = self._rows(
                "SELECT s.term, s.version, count(*), array_agg(t.key), array_agg(t.tf),"
                " array_agg(t.dl) FROM term_stats s JOIN passage_terms t ON t.term = s.term"
                " WHERE s.term = ANY(%s) GROUP BY s.term, s.version",
                (missing,),
                binary=True,
            )
            packed = [
                (
                    term,
                    version,
                    int(df),
                    np.asarray(keys, _KEY).tobytes(),
                    np.asarray(tfs, _COUNT).tobytes(),
                    np.asarray(dls, _COUNT).tobytes(),
                )
                for term, version, df, keys, tfs, dls in built
            ]
            with self._connection() as db, db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO term_postings (term, version, keys, tfs, dls)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (term) DO UPDATE SET"
                    " version = excluded.version, keys = excluded.keys, tfs = excluded.tfs,"
                    " dls = excluded.dls WHERE term_postings.version < excluded.version",
                    [(term, version, k, t, d) for term, version, _, k, t, d in packed],
                )
            found.extend((df, k, t, d) for _, _, df, k, t, d in packed)
        return [
            (
                df,
                np.frombuffer(keys, _KEY),
                np.frombuffer(tfs, _COUNT).astype(np.float64),
                np.frombuffer(dls, _COUNT).astype(np.float64),
            )
            for df, keys, tfs, dls in found
        ]

    def _document_frequencies(self, query_terms: list[str]) -> dict[str, int]:
        """How many passages hold each term, from this generation's cache or the database."""
        with self._cache_lock:
            self._caches_current()
            known = {t: self._df_cache[t] for t in query_terms if t in self._df_cache}
        missing = [t for t in query_terms if t not in known]
        if missing:
            fetched = dict.fromkeys(missing, 0)
            fetched.update(
                self._rows("SELECT term, df FROM term_stats WHERE term = ANY(%s)", (missing,))
            )
            self._remember_frequencies(fetched)
            known.update(fetched)
        return known

    def _remember_frequencies(self, frequencies: dict[str, int]) -> None:
        with self._cache_lock:
            if len(self._df_cache) + len(frequencies) > DF_CACHE_TERMS:
                self._df_cache.clear()
            self._df_cache.update(frequencies)

    def passages(self, keys: Sequence[int]) -> dict[int, StoredPassage]:
        wanted = [int(k) for k in keys if k not in self._flagged_passages]
        if not wanted:
            return {}
        rows = self._rows(
            "SELECT key, article_id, start_char, end_char, text FROM passages WHERE key = ANY(%s)",
            (wanted,),
        )
        return {int(r[0]): StoredPassage(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows}

    def stats(self) -> dict[str, object]:
        articles, passages = self.counts()
        return {
            "store": "postgresql",
            "database": self.location,
            "articles": articles,
            "passages": passages,
            "vectors": passages,
            "vector_index": f"pgvector HNSW (inner product, ef_search {self.ef_search})",
            "lexical": "BM25 over term postings in PostgreSQL",
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "dim": self.dim,
        }

    # ---- incremental indexing -------------------------------------------------------------
    def stored_versions(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        rows = self._rows(
            "SELECT id, content_hash, meta FROM articles WHERE id = ANY(%s)", (list(article_ids),)
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def articles_by_url(self, urls: Sequence[str]) -> dict[str, str]:
        rows = self._rows("SELECT id, url FROM articles WHERE url = ANY(%s)", (list(urls),))
        return {r[1]: r[0] for r in rows}

    def existing_vectors(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        rows = self._rows(
            "SELECT id, embedding FROM passages WHERE id = ANY(%s)", (list(passage_ids),)
        )
        return {r[0]: _array(r[1]) for r in rows}

    def article_hashes(self) -> dict[str, tuple[str, str | None]]:
        return {
            r[0]: (r[1], r[2]) for r in self._rows("SELECT id, content_hash, url FROM articles")
        }

    # ---- the answer path ------------------------------------------------------------------
    @property
    def generation(self) -> int:
        return self._seen

    def refresh(self) -> bool:
        generation = self._read_generation()
        if generation == self._seen:
            return False
        with self._flag_lock:
            self._flagged_passages.clear()
        self._seen = generation
        return True

    def article_refs(self, article_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        return {a: (title, url) for a, (title, url, _) in self._references(article_ids).items()}

    def article_dates(self, article_ids: Iterable[str]) -> dict[str, str | None]:
        return {a: published for a, (_, _, published) in self._references(article_ids).items()}

    def _references(
        self, article_ids: Iterable[str]
    ) -> dict[str, tuple[str, str | None, str | None]]:
        """Title, URL and publication date of each article, from this generation's cache or
        the database (an ask needs them two or three times)."""
        wanted = set(article_ids)
        with self._cache_lock:
            self._caches_current()
            known = {a: self._refs_cache[a] for a in wanted if a in self._refs_cache}
        missing = list(wanted.difference(known))
        if missing:
            fetched = {
                r[0]: (r[1], r[2], r[3])
                for r in self._rows(
                    "SELECT id, title, url, published FROM articles WHERE id = ANY(%s)", (missing,)
                )
            }
            with self._cache_lock:
                if len(self._refs_cache) + len(fetched) > REFS_CACHE_ARTICLES:
                    self._refs_cache.clear()
                self._refs_cache.update(fetched)
            known.update(fetched)
        return known

    def _caches_current(self) -> None:
        """Empty the caches when the index changed (hold ``_cache_lock``)."""
        if self._cached_generation != self._seen:
            self._df_cache.clear()
            self._within_cache.clear()
            self._refs_cache.clear()
            totals = dict(
                self._rows(
                    "SELECT key, value::bigint FROM qa_meta"
                    " WHERE key IN ('bm25_passages', 'bm25_terms')"
                )
            )
            passages, length = totals.get("bm25_passages", 0), totals.get("bm25_terms", 0)
            self._totals = (int(passages), float(length) / passages if passages else 1.0)
            self._cached_generation = self._seen

    def rowids_published(self, low: str | None, high: str | None) -> np.ndarray:
        with self._cache_lock:
            self._caches_current()
            cached = self._within_cache.get((low, high))
        if cached is not None:
            return cached
        where, args = ["a.published IS NOT NULL"], []
        if low is not None:
            where.append("a.published >= %s")
            args.append(low)
        if high is not None:
            where.append("a.published < %s")
            args.append(high)
        rows = self._rows(
            "SELECT p.key FROM passages p JOIN articles a ON a.id = p.article_id WHERE "
            + " AND ".join(where),
            args,
        )
        keys = np.array([r[0] for r in rows], dtype=np.int64)
        with self._cache_lock:
            if len(self._within_cache) >= WITHIN_CACHE_SIZE:
                self._within_cache.pop(next(iter(self._within_cache)))
            self._within_cache[(low, high)] = keys
        return keys

    def document_frequency(self, word: str) -> tuple[int, int]:
        word_terms = terms([word])
        frequency = self._document_frequencies(word_terms).get(word_terms[0], 0)
        return frequency, max(self._totals[0], 1)

    def probe_passage(self, *, newest: bool) -> StoredPassage | None:
        sql = "SELECT key FROM passages ORDER BY key DESC LIMIT 1"
        if not newest:
            sql = (
                "SELECT key FROM passages WHERE key >= "
                "floor(random() * ((SELECT max(key) FROM passages) + 1)) ORDER BY key LIMIT 1"
            )
        keys = [r[0] for r in self._rows(sql)]
        found = self.passages(keys)
        return next((found[k] for k in keys if k in found), None)

    def flag_passage(self, rowid: int, problem: str) -> None:
        with self._flag_lock:
            if rowid in self._flagged_passages:
                return
            self._flagged_passages.add(rowid)
        log.error(
            "passage %s %s: it is left out of answers until the index changes", rowid, problem
        )

    def flagged(self) -> tuple[int, int]:
        with self._flag_lock:
            return len(self._flagged_passages), 0

    def lexical_current(self) -> bool:
        return True  # postings are written in the same transaction as their passage

    def update_lexical(self) -> None:
        return None

    def update_lexical_in_background(self) -> None:
        return None

    # ---- across replicas ------------------------------------------------------------------
    def claim_once(self, keys: Sequence[str], window_seconds: float = 3600.0) -> bool:
        """True if none of ``keys`` was claimed in the last ``window_seconds`` (by any
        replica); claims them. Older claims are dropped. One transaction: two replicas that
        claim the same key at once are ordered by its primary key, and one of them loses."""
        now = time.time()
        with self._pool.connection() as db, db.transaction():
            db.execute("DELETE FROM claims WHERE claimed_at < %s", (now - window_seconds,))
            inserted = 0
            for key in keys:
                inserted += db.execute(
                    "INSERT INTO claims VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (key, now)
                ).rowcount
        return inserted == len(keys) > 0

    # ---- side tables ----------------------------------------------------------------------
    def url_sources(
        self, *, roots_only: bool = False, parent: str | None = None
    ) -> list[UrlSource]:
        where: list[str] = []
        args: list[object] = []
        if roots_only:
            where.append("root")
        if parent is not None:
            where.append("parent = %s")
            args.append(parent)
        sql = f"SELECT {_URL_SOURCE_COLUMNS} FROM url_sources"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [UrlSource(*r) for r in self._rows(sql + " ORDER BY url", args)]

    def url_source(self, url: str) -> UrlSource | None:
        rows = self._rows(f"SELECT {_URL_SOURCE_COLUMNS} FROM url_sources WHERE url = %s", (url,))
        return UrlSource(*rows[0]) if rows else None

    def save_url_sources(self, sources: Iterable[UrlSource]) -> None:
        rows = [
            (
                s.url,
                s.kind,
                s.root,
                s.parent,
                s.allow_private,
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
        with self._pool.connection() as db, db.transaction(), db.cursor() as cur:
            cur.executemany(
                f"INSERT INTO url_sources({_URL_SOURCE_COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (url) DO UPDATE SET kind = excluded.kind,"
                " root = url_sources.root OR excluded.root,"
                " parent = coalesce(excluded.parent, url_sources.parent),"
                " allow_private = url_sources.allow_private OR excluded.allow_private,"
                " etag = excluded.etag, last_modified = excluded.last_modified,"
                " content_hash = excluded.content_hash,"
                " article_id = coalesce(excluded.article_id, url_sources.article_id),"
                " checked_at = excluded.checked_at",
                rows,
            )

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
        now = time.time()
        row = self._rows(
            "INSERT INTO feedback(created_at, question, answer_text, article_id, start_char,"
            " helpful, comment, channel) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (now, question, answer_text, article_id, start, helpful, comment, channel),
        )
        return FeedbackRecord(
            int(row[0][0]), now, question, answer_text, article_id, start, helpful, comment, channel
        )

    def list_feedback(
        self, offset: int = 0, limit: int = 100, helpful: bool | None = None
    ) -> tuple[int, list[FeedbackRecord]]:
        where, args = ("", []) if helpful is None else ("WHERE helpful = %s", [helpful])
        total = self._rows(f"SELECT count(*) FROM feedback {where}", args)[0][0]
        rows = self._rows(
            "SELECT id, created_at, question, answer_text, article_id, start_char, helpful,"
            f" comment, channel FROM feedback {where} ORDER BY id LIMIT %s OFFSET %s",
            [*args, limit, offset],
        )
        return int(total), [FeedbackRecord(*r) for r in rows]

    def close(self) -> None:
        self._pool.close()


def _idf(frequency: int, passages: int) -> float:
    """Robertson's IDF floored at 0, as bm25s computes it for the embedded store."""
    return math.log(max(1.0, (passages - frequency + 0.5) / (frequency + 0.5)))


def _best(
    keys: np.ndarray, scores: np.ndarray, n: int, within: np.ndarray | None
) -> list[tuple[int, float]]:
    """The ``n`` best (key, summed score) of term scores ``scores`` of passages ``keys`` (a key
    once per term), among the keys ``within`` when given; ties by key."""
    if within is not None:
        allowed = np.isin(keys, within)
        keys, scores = keys[allowed], scores[allowed]
    if not len(keys):
        return []
    low = int(keys.min())
    span = int(keys.max()) - low + 1
    if span <= 8 * len(keys):  # dense enough to sum into an array indexed by key
        totals = np.bincount(keys - low, weights=scores, minlength=span)
        passages = np.flatnonzero(totals) + low
        totals = totals[passages - low]
    else:
        passages, at = np.unique(keys, return_inverse=True)
        totals = np.bincount(at, weights=scores)
    if n < len(passages):  # the n best and any tied with the n-th, then ties broken by key
        nth = np.partition(totals, len(totals) - n)[len(totals) - n]
        kept = totals >= nth
        passages, totals = passages[kept], totals[kept]
    top = np.lexsort((passages, -totals))[:n]
    return [(int(passages[i]), float(totals[i])) for i in top]


def _write_postings(db: psycopg.Connection, passages: Sequence[tuple[int, list[str]]]) -> None:
    """The BM25 postings of new passages, given as ``(key, every term of its text)``, and
    their terms' document frequencies (inside the writer's transaction)."""
    frequencies: Counter[str] = Counter()
    with db.cursor() as cur, cur.copy("COPY passage_terms (term, key, tf, dl) FROM STDIN") as copy:
        for key, all_terms in passages:
            counts = Counter(all_terms)
            for term, tf in counts.items():
                copy.write_row((term, key, tf, len(all_terms)))
            frequencies.update(counts.keys())
    if frequencies:
        db.execute(
            "INSERT INTO term_stats (term, df) SELECT * FROM unnest(%s::text[], %s::int[])"
            " ON CONFLICT (term) DO UPDATE SET df = term_stats.df + excluded.df,"
            " version = term_stats.version + 1",
            (list(frequencies), list(frequencies.values())),
        )
    _add_to_totals(db, len(passages), sum(len(all_terms) for _, all_terms in passages))


def _add_to_totals(db: psycopg.Connection, passages: int, terms_in_them: int) -> None:
    """Count passages (and their terms) into BM25's corpus totals, or out (negative)."""
    db.execute(
        "UPDATE qa_meta SET value = (value::bigint + CASE key WHEN 'bm25_passages' THEN %s"
        " ELSE %s END)::text WHERE key IN ('bm25_passages', 'bm25_terms')",
        (passages, terms_in_them),
    )


def _delete_postings(db: psycopg.Connection, article_ids: Sequence[str]) -> None:
    """Remove the postings of these articles' passages, and count them out of their terms'
    document frequencies and the totals (inside the writer's transaction, before the
    passages go)."""
    passages, terms_in_them = db.execute(
        "SELECT count(*), coalesce(sum(term_count), 0) FROM passages WHERE article_id = ANY(%s)",
        (list(article_ids),),
    ).fetchone() or (0, 0)
    _add_to_totals(db, -int(passages), -int(terms_in_them))
    db.execute(
        """WITH gone AS (
               DELETE FROM passage_terms t USING passages p
               WHERE t.key = p.key AND p.article_id = ANY(%s) RETURNING t.term
           ), counted AS (SELECT term, count(*) AS n FROM gone GROUP BY term)
           UPDATE term_stats s SET df = s.df - counted.n, version = s.version + 1
           FROM counted WHERE s.term = counted.term""",
        (list(article_ids),),
    )
