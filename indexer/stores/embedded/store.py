"""The embedded store: one index directory holding the SQLite records (:mod:`.records`, the
source of truth), the FAISS vector file (:mod:`.vectors`) and the BM25 generations
(:mod:`.bm25`), both derived from SQLite.

Every write is one SQLite transaction; the FAISS file is written to a temp file and renamed
after the commit. On open, FAISS is reconciled with SQLite, so a crash anywhere leaves an
index that opens consistent (the old or the new state).

Integrity (:mod:`.integrity`): rows carry checksums checked when the answer path reads them;
the FAISS and BM25 files' checksums are recorded in ``meta`` when they are written and checked
when they are opened (on a thread of their own, while the caller loads its models); a file
that fails is rebuilt from SQLite, and the rebuild is logged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from filelock import FileLock

from core.types import Article
from indexer.stores.base import (
    ArticleSummary,
    FeedbackRecord,
    IndexDamagedError,
    StoredPassage,
    Upsert,
    UrlSource,
    is_disk_full,
)
from indexer.stores.embedded.bm25 import LEXICAL_DIR, Bm25Generations
from indexer.stores.embedded.lexical import LexicalIndex
from indexer.stores.embedded.records import DB_NAME, Records
from indexer.stores.embedded.vectors import (
    EXACT_MAX_PASSAGES,
    FAISS_NAME,
    HNSW_MAX_PASSAGES,
    VectorFile,
)

log = logging.getLogger(__name__)

LOCK_NAME = ".write.lock"


class EmbeddedStore:
    """SQLite + FAISS + BM25 index in one directory. Thread-safe; one writer process at a time.

    Args:
        directory: the index directory (created if missing).
        model: embedding model name recorded in (and checked against) the index.
        dim: embedding dimension recorded in (and checked against) the index.
        exact_max, hnsw_max: the FAISS type's size thresholds (see
            :func:`~indexer.stores.embedded.vectors.new_faiss_index`).
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
        self.directory.mkdir(parents=True, exist_ok=True)
        self.model, self.dim = model, dim
        db_path = self.directory / DB_NAME
        # One lock for this process's threads (the records' main connection and the FAISS
        # index together), one file lock across processes.
        self._lock = threading.RLock()
        self._file_lock = FileLock(str(self.directory / LOCK_NAME))
        try:
            self.records = Records(db_path, model, dim, self._lock)
            self.vectors = VectorFile(
                self.directory / FAISS_NAME,
                self.records,
                self._lock,
                exact_max=exact_max,
                hnsw_max=hnsw_max,
            )
            with self._file_lock:
                self.records.init_schema(self.directory)
                # Checked against its checksum on a thread of its own (_verify_opened_files),
                # while the caller loads its models: nothing searches or writes it before.
                self.vectors.index = self.vectors.load(verify=False)
                self.vectors.reconcile()
            self._seen_version = self.records.generation()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            if is_disk_full(exc):
                raise
            log.error("cannot open the index database %s: %s", db_path, exc)
            raise IndexDamagedError(
                "the index database cannot be read (damaged?): run qa-index check"
            ) from exc
        self.bm25 = Bm25Generations(
            self.directory / LEXICAL_DIR,
            self.records,
            generation=lambda: self._seen_version,
            wait_verified=self._wait_verified,
        )
        self._verified = threading.Event()  # set once the files opened above are checked
        self._verifier = threading.Thread(
            target=self._verify_opened_files, name="verify-index-files", daemon=True
        )
        self._verifier.start()

    # ---- opening -------------------------------------------------------------------------
    def _verify_opened_files(self) -> None:
        """Check the files the constructor opened without checking them: the FAISS file
        (hashed from disk; its identity tells if a writer replaced it meanwhile) and the BM25
        files. A FAISS file that fails is rebuilt from SQLite (logged) before anything
        searches it; a BM25 index that fails is dropped and rebuilt in the background, FTS5
        answering meanwhile. Searches and writes wait for this (:meth:`_wait_verified`)."""
        try:
            if self.vectors.unverified is not None:
                reload, unrecorded = self.vectors.opened_file_status()
                if reload:
                    # Replaced by a writer, or damaged: read and check it under the lock.
                    with self._file_lock, self._lock:
                        self.vectors.index = self.vectors.load()
                        self.vectors.reconcile()
                elif unrecorded is not None:
                    with self._file_lock:
                        if not self.vectors.checksums():
                            self.vectors.record_checksums([unrecorded])
                self.vectors.unverified = None
            self.bm25.verify_opened()
        except Exception:  # a thread has no caller: searches go on, from SQLite if need be
            log.exception("checking the index files failed")
        finally:
            self._verified.set()

    def _wait_verified(self) -> None:
        """Wait until the files opened by the constructor are checked (about a second per
        GB of files, spent while the models load)."""
        if not self._verified.is_set():
            self._verified.wait()

    # ---- writes --------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the cross-process writer lock (one indexer at a time per index)."""
        self._wait_verified()  # nothing is written over a file before it is checked
        with self._file_lock:
            with self._lock:
                # Another process may have written since we opened: start from its state.
                if self.records.generation() != self._seen_version:
                    self.records.clear_flags()
                    self.vectors.index = self.vectors.load()
                    self.vectors.reconcile()
                    self._seen_version = self.records.generation()
            yield

    def apply(self, upserts: Sequence[Upsert], deletes: Sequence[str] = ()) -> None:
        """Atomically replace articles (with their passages and vectors) and delete others.

        Call inside :meth:`writing`. SQLite commits first; FAISS is then written to a temp
        file and renamed, so a crash in between is repaired by the reconciliation on open.
        An index that outgrew its type is then rebuilt (:meth:`refit_faiss`).
        """
        with self._lock:
            old_rowids, new_ids, new_vectors = self.records.write(upserts, deletes)
            self.vectors.forget(np.array(old_rowids, dtype=np.int64))
            self.vectors.add(new_ids, new_vectors)
            self.vectors.count_stale()
            self.vectors.save()
            self._seen_version = self.records.generation()
            self.records.clear_flags()
        self.refit_faiss()

    # ---- repair (qa-index repair) --------------------------------------------------------
    def record_checksums(self) -> None:
        """Record the checksums of rows an older version wrote without them."""
        self.records.record_checksums()

    def rebuild_faiss(self) -> None:
        """Rebuild the FAISS index from SQLite's vectors and write it. Call inside
        :meth:`writing`."""
        self.vectors.rebuild()

    def rebuild_sqlite_indexes(self) -> None:
        """Rebuild SQLite's indexes and the full-text index. Call inside :meth:`writing`."""
        self.records.rebuild_indexes()

    def delete_rows(self, article_rowids: Sequence[int], passage_rowids: Sequence[int]) -> None:
        """Delete rows by rowid (damaged ones, whose ids may be unreadable), with the
        passages of the articles. Call inside :meth:`writing`."""
        with self._lock:
            gone = self.records.delete_rows(article_rowids, passage_rowids)
            self.vectors.forget(np.array(gone, dtype=np.int64))
            self.vectors.count_stale()
            self.vectors.save()
            self._seen_version = self.records.generation()
            self.records.clear_flags()

    def article_rowid(self, article_id: str) -> int | None:
        return self.records.article_rowid(article_id)

    def refit_due(self) -> bool:
        """Whether the FAISS index outgrew its type or holds too many stale vectors."""
        return self.vectors.refit_due()

    def refit_faiss(self) -> bool:
        """Rebuild the FAISS index with the type that fits its size, when due; returns
        whether it did. Call inside :meth:`writing`."""
        return self.vectors.refit()

    # ---- other writers -------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """The index generation this store has loaded (it changes with every write)."""
        return self._seen_version

    def refresh(self) -> bool:
        """Reload FAISS if another process wrote to the index since we last looked.

        A file that fails its checksum here may be a writer's, caught between its rename and
        its checksum record: it is looked at again under the writer lock, and rebuilt from
        SQLite (logged) only if it still fails there.
        """
        self._wait_verified()
        with self._lock:
            generation = self.records.generation()
            if generation == self._seen_version:
                return False
            self.records.clear_flags()
            if self.vectors.reload_readonly():
                self._seen_version = generation
                return True
        with self.writing():  # reloads, checks and if need be rebuilds, under the writer lock
            pass
        return True

    # ---- reads ---------------------------------------------------------------------------
    def article_hashes(self) -> dict[str, tuple[str, str | None]]:
        """id → (content_hash, url) of every stored article."""
        return self.records.article_hashes()

    def stored_versions(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """id -> (content hash, meta JSON) of the stored articles among ``article_ids``."""
        return self.records.stored_versions(article_ids)

    def articles_by_url(self, urls: Sequence[str]) -> dict[str, str]:
        """url -> id of the stored articles with these URLs."""
        return self.records.articles_by_url(urls)

    def existing_vectors(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of passages that are already indexed (reused, not re-embedded)."""
        return self.records.existing_vectors(passage_ids)

    def get_article(self, article_id: str) -> Article | None:
        """The stored article, checked against its checksum.

        Raises:
            IndexDamagedError: the stored row is damaged (it is flagged and logged).
        """
        return self.records.get_article(article_id)

    def read_articles(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The articles with these ids whose rows pass their checksum; a row that fails is
        flagged, logged and left out."""
        return self.records.read_articles(article_ids)

    def list_articles(
        self, offset: int = 0, limit: int = 50, query: str | None = None
    ) -> tuple[int, list[ArticleSummary]]:
        """A page of articles (by title), optionally filtered by a substring of title or id."""
        return self.records.list_articles(offset, limit, query)

    def counts(self) -> tuple[int, int]:
        return self.records.counts()

    def passages(self, rowids: Sequence[int]) -> dict[int, StoredPassage]:
        """The passages with these rowids whose rows pass their checksum; a row that fails
        is flagged, logged and left out."""
        return self.records.passages(rowids)

    def article_refs(self, article_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """(title, url) of the articles with these ids (unreadable ones left out)."""
        return self.records.article_refs(article_ids)

    def article_dates(self, article_ids: Iterable[str]) -> dict[str, str | None]:
        """id → published (None when unknown) of these articles."""
        return self.records.article_dates(article_ids)

    def rowids_published(self, low: str | None, high: str | None) -> np.ndarray:
        """Rowids of the passages of articles published in ``[low, high)`` (stored ISO 8601
        forms, see :func:`indexer.dates.date_bounds`; None: open). An article with no date
        is outside every range. Cached per range until the next write."""
        return self.records.rowids_published(low, high, self._seen_version)

    def export(self, batch: int = 500) -> Iterator[list[Upsert]]:
        """Every readable article with its passages and vectors, ``batch`` at a time."""
        return self.records.export(batch)

    def probe_passage(self, *, newest: bool) -> StoredPassage | None:
        """A passage for the engine's self-test: the newest one that passes its checksum, or
        one from a random place in the index.

        Raises:
            IndexDamagedError: the 20 passages looked at all fail their checksums.
        """
        rowids = self.records.probe_rowids(newest=newest)
        found = self.passages(rowids)
        if rowids and not found:
            raise IndexDamagedError("stored passages fail their checksums: run qa-index check")
        return next((found[r] for r in rowids if r in found), None)

    def flag_passage(self, rowid: int, problem: str) -> None:
        """Leave passage ``rowid`` out of answers (the engine found it inconsistent)."""
        self.records.flag("passage", rowid, problem)

    def flagged(self) -> tuple[int, int]:
        """(passages, articles) left out of answers as damaged since the index last changed."""
        return self.records.flagged()

    # ---- search --------------------------------------------------------------------------
    def search_dense(
        self, query: np.ndarray, n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``n`` passages by inner product with the (normalised) query vector; only
        passages whose rowid is in ``within``, when given (see :meth:`rowids_published`)."""
        self._wait_verified()
        return self.vectors.search(query, n, within)

    def search_bm25(
        self, words: list[str], n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``n`` passages holding any of ``words`` by BM25 (higher is better); only
        passages whose rowid is in ``within``, when given. FTS5 answers while the BM25 index
        of the current generation is being built."""
        return self.bm25.search(words, n, within)

    def document_frequency(self, word: str) -> tuple[int, int]:
        """(passages containing ``word``, all passages)."""
        return self.bm25.document_frequency(word)

    def lexical(self) -> LexicalIndex | None:
        """The BM25 index of the current generation, once it is built and checked."""
        return self.bm25.lexical()

    def lexical_current(self) -> bool:
        return self.bm25.lexical() is not None

    def update_lexical(self) -> LexicalIndex:
        """Build (and save) the BM25 index of the current generation, unless it exists."""
        return self.bm25.update()

    def update_lexical_in_background(self) -> None:
        """:meth:`update_lexical` on a daemon thread; FTS5 answers meanwhile."""
        self.bm25.update_in_background()

    # ---- what qa-index stats prints ------------------------------------------------------
    def vector_counts(self) -> tuple[int, int]:
        """(vectors FAISS holds for current passages, stale vectors of deleted ones: HNSW
        keeps those until its next rebuild)."""
        return self.vectors.counts()

    def faiss_kind(self) -> str:
        return self.vectors.describe()

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

    # ---- side tables ---------------------------------------------------------------------
    def claim_once(self, keys: Sequence[str], window_seconds: float = 3600.0) -> bool:
        """Always True: one machine's processes de-duplicate in their own memory (the Slack
        bot does); claims across replicas need the shared store (PostgreSQL)."""
        return True

    def url_sources(
        self, *, roots_only: bool = False, parent: str | None = None
    ) -> list[UrlSource]:
        return self.records.url_sources(roots_only=roots_only, parent=parent)

    def url_source(self, url: str) -> UrlSource | None:
        return self.records.url_source(url)

    def save_url_sources(self, sources: Iterable[UrlSource]) -> None:
        self.records.save_url_sources(sources)

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
        return self.records.add_feedback(
            question=question,
            answer_text=answer_text,
            article_id=article_id,
            helpful=helpful,
            comment=comment,
            start=start,
            channel=channel,
        )

    def list_feedback(
        self, offset: int = 0, limit: int = 100, helpful: bool | None = None
    ) -> tuple[int, list[FeedbackRecord]]:
        return self.records.list_feedback(offset, limit, helpful)

    def close(self) -> None:
        self._verifier.join()
        self.bm25.join()  # it reads through a connection closed below
        self.records.close()
