"""The embedded store's BM25 generations: one saved BM25 index (:mod:`.lexical`) per index
generation under ``bm25/``, derived from SQLite and rebuilt after writes (seconds at 100k
passages). One answers only for the generation it was built from; until the one for the
current generation exists, queries go to SQLite's FTS5 table, which is always current.

Each saved index's file checksums are recorded in ``meta`` and checked when it is opened; one
that fails is removed and rebuilt in the background (logged), FTS5 answering meanwhile.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from indexer.stores.embedded.integrity import BM25_CHECKSUMS_KEY
from indexer.stores.embedded.lexical import LexicalIndex, intact_or_removed
from indexer.stores.embedded.records import Records

log = logging.getLogger(__name__)

LEXICAL_DIR = "bm25"


class Bm25Generations:
    """The BM25 index of ``records`` in ``directory``.

    Args:
        directory: where the generations are saved (``bm25/`` in the index directory).
        records: the SQLite records they are built from.
        generation: the generation the store has loaded (what a search must answer for).
        wait_verified: blocks until the files the store opened unchecked are checked.
    """

    def __init__(
        self,
        directory: Path,
        records: Records,
        generation: Callable[[], int],
        wait_verified: Callable[[], None],
    ) -> None:
        self.directory = directory
        self.records = records
        self._generation = generation
        self._wait_verified = wait_verified
        self.current: LexicalIndex | None = self.load(generation(), verify=False)
        self._lock = threading.Lock()  # loading or swapping self.current
        self.builder: threading.Thread | None = None  # see update_in_background
        self._wanted = False

    # ---- loading and checking ------------------------------------------------------------
    def load(
        self, generation: int, db: sqlite3.Connection | None = None, *, verify: bool = True
    ) -> LexicalIndex | None:
        """The saved BM25 index of ``generation`` if its files match the checksums recorded
        for them; a directory without recorded checksums (an older version's) is removed.
        ``verify=False`` leaves the files' check to :meth:`checked`."""
        path = self.directory / str(generation)
        if not path.is_dir():
            return None
        recorded = json.loads(self.records.meta_value(BM25_CHECKSUMS_KEY, db) or "{}")
        if recorded.get("generation") != generation:
            log.info("BM25 index %s has no recorded checksums: it is rebuilt", path)
            shutil.rmtree(path, ignore_errors=True)
            return None
        checksums = recorded.get("files") or {}
        return LexicalIndex.load(self.directory, generation, checksums if verify else None)

    def checked(self, lexical: LexicalIndex) -> bool:
        """Whether the files of ``lexical`` (loaded unchecked) match their recorded
        checksums; if not, they are removed (logged)."""
        path = self.directory / str(lexical.generation)
        recorded = json.loads(
            self.records.meta_value(BM25_CHECKSUMS_KEY, self.records.text_db()) or "{}"
        )
        if recorded.get("generation") != lexical.generation:
            return False
        return intact_or_removed(path, recorded.get("files") or {})

    def verify_opened(self) -> None:
        """Check the index loaded unchecked on open: one that fails is dropped and rebuilt in
        the background."""
        lexical = self.current
        if lexical is not None and not self.checked(lexical):
            log.warning("BM25 index of generation %d is dropped", lexical.generation)
            with self._lock:
                if self.current is lexical:
                    self.current = None
            self.update_in_background()

    def _record_checksums(
        self, generation: int, files: dict[str, str], db: sqlite3.Connection
    ) -> None:
        value = json.dumps({"generation": generation, "files": files})
        self.records.set_meta(BM25_CHECKSUMS_KEY, value, db)

    def _failed(self, lexical: LexicalIndex, exc: Exception) -> None:
        """A BM25 index that fails when searched (changed on disk after it was checked):
        dropped, its files removed, and rebuilt in the background; FTS5 answers meanwhile."""
        log.error(
            "the BM25 index of generation %d failed (%s: %s): it is rebuilt from SQLite",
            lexical.generation,
            type(exc).__name__,
            exc,
        )
        with self._lock:
            if self.current is lexical:
                self.current = None
        shutil.rmtree(self.directory / str(lexical.generation), ignore_errors=True)
        self.update_in_background()

    def lexical(self) -> LexicalIndex | None:
        """The BM25 index of the current generation, if it has been built (by any process)
        and its files match their recorded checksums (if not, it is rebuilt in the
        background; FTS5 answers meanwhile)."""
        self._wait_verified()
        generation = self._generation()
        lexical = self.current
        if lexical is not None and lexical.generation == generation:
            return lexical
        if not (self.directory / str(generation)).is_dir():
            return None
        with self._lock:
            if self.current is None or self.current.generation != generation:
                loaded = self.load(generation, self.records.text_db())
                if loaded is None:  # damaged or unverifiable, and removed: build it anew
                    self._wanted = True
                    self._start_builder()
                    return None
                self.current = loaded
            return self.current

    # ---- queries -------------------------------------------------------------------------
    def search(
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
                self._failed(lexical, exc)
        return self.records.fts_search(words, n, within)

    def document_frequency(self, word: str) -> tuple[int, int]:
        """(passages containing ``word``, all passages), from the BM25 index when it is
        current, else from FTS5."""
        lexical = self.lexical()
        if lexical is not None:
            try:
                return lexical.document_frequency(word), len(lexical)
            except (IndexError, ValueError, OSError) as exc:
                self._failed(lexical, exc)
        try:
            return self.records.fts_document_frequency(word, self._generation())
        except sqlite3.DatabaseError as exc:
            log.error("the full-text index cannot be read (%s): run qa-index check", exc)
            return 0, 1

    # ---- building ------------------------------------------------------------------------
    def update(self) -> LexicalIndex:
        """Build (and save) the BM25 index of the current generation, unless it exists.

        Reads one consistent snapshot of SQLite, so a write meanwhile only makes the result
        stale (FTS5 then keeps answering). An index directory that cannot be written to keeps
        the result in memory only.
        """
        db = self.records.text_db()
        db.execute("BEGIN")
        try:
            generation = self.records.generation(db)
            current = self.current
            if current is not None and current.generation == generation:
                return current
            loaded = self.load(generation, db)
            lexical = loaded or LexicalIndex.build(
                db.execute("SELECT rowid, text FROM passages"), generation
            )
        finally:
            db.execute("COMMIT")
        if loaded is None:
            try:
                lexical.save(
                    self.directory,
                    publish=lambda files: self._record_checksums(generation, files, db),
                )
            except (OSError, sqlite3.OperationalError) as exc:
                log.warning("could not save the BM25 index in %s: %s", self.directory, exc)
        with self._lock:
            if self.current is None or self.current.generation < generation:
                self.current = lexical
        return lexical

    def update_in_background(self) -> None:
        """:meth:`update` on a daemon thread; FTS5 answers meanwhile. A call while a build
        runs makes that thread build once more when it is done, for the newer writes."""
        with self._lock:
            self._wanted = True
            self._start_builder()

    def _start_builder(self) -> None:
        """Start the builder thread unless it runs (hold ``_lock``)."""
        if self.builder is None:
            self.builder = threading.Thread(
                target=self._update_while_wanted, name="bm25-build", daemon=True
            )
            self.builder.start()

    def _update_while_wanted(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self.builder = None
                    return
                self._wanted = False
            try:
                lexical = self.update()
                log.info(
                    "BM25 index ready: generation %d, %d passages", lexical.generation, len(lexical)
                )
            except Exception:  # a background thread has no caller to raise to
                log.exception("building the BM25 index failed; FTS5 keeps answering")

    def join(self) -> None:
        """Wait for a running build (it reads through connections about to be closed)."""
        builder = self.builder
        if builder is not None:
            builder.join()
