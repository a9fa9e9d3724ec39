"""BM25: an in-memory index over passages, keyed by their terms (:mod:`core.text.terms`).

FTS5 scores every passage an OR-query matches, so a common word costs a walk over tens of
thousands of postings on a large index. The BM25 index here is a ``bm25s`` sparse matrix of
precomputed per-(word, passage) scores: a question sums a few of its columns, whatever their
length (~1 ms at 100k passages, against FTS5's 35 ms with every question word). It is
derived from SQLite, like the FAISS file, and keyed by the index generation it was built
from: one directory per generation under ``bm25/``, written under a temporary name and
renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from core.text.terms import K1, MIN_TERM_SCORE, B, passage_terms, terms
from indexer.stores.embedded.integrity import directory_checksums, verify_files

log = logging.getLogger(__name__)
# bm25s sets its own logger to DEBUG, which would print a line per build in our CLIs.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# FTS5's BM25 (see core.text.terms). Top-10 overlap with FTS5 at 100k passages: 0.98 (stopwords
# not counted: 0.84).
_BM25 = {"k1": K1, "b": B, "method": "robertson"}
_ROWIDS = "rowids.npy"
_INFO = "lexical.json"


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, OSError):  # not ours to signal, or not a pid: leave it alone
        return True
    return True


def intact_or_removed(path: Path, checksums: dict[str, str]) -> bool:
    """Whether the BM25 files in ``path`` match ``checksums``; if not, the directory is
    removed (logged), to be rebuilt from SQLite."""
    problems = verify_files(path, checksums)
    if problems:
        log.warning(
            "BM25 index %s is damaged (%s): it is removed and rebuilt from SQLite",
            path,
            "; ".join(problems),
        )
        shutil.rmtree(path, ignore_errors=True)
    return not problems


class _TermIds:
    """Each passage's term ids, all in one int32 array, which bm25s reads a passage at a
    time (it needs only ``len`` and iteration). Lists of terms would hold a Python object per
    word: a 100k build peaked at 734 MiB with them, 378 MiB with this."""

    def __init__(self, term_ids: array, offsets: array) -> None:
        self.term_ids = np.frombuffer(term_ids, dtype=np.int32)
        self.offsets = np.frombuffer(offsets, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __iter__(self) -> Iterator[list[int]]:
        for lo, hi in itertools.pairwise(self.offsets):
            yield self.term_ids[lo:hi].tolist()


@dataclass
class _Corpus:
    """What ``bm25s.BM25.index`` takes as already-tokenised input."""

    ids: _TermIds
    vocab: dict[str, int]


class LexicalIndex:
    """BM25 over the passages of one index generation, keyed by passage rowid.

    Build with :meth:`build`, persist with :meth:`save`, reopen with :meth:`load`.
    """

    def __init__(self, bm25: bm25s.BM25 | None, rowids: np.ndarray, generation: int) -> None:
        self.bm25 = bm25  # None when there is no passage
        self.rowids = rowids
        self.generation = generation

    def __len__(self) -> int:
        return len(self.rowids)

    @classmethod
    def build(cls, rows: Iterable[tuple[int, str]], generation: int) -> LexicalIndex:
        """Index (rowid, passage text) rows of index generation ``generation``."""
        vocab: dict[str, int] = {}
        term_ids = array("i")
        offsets = array("q", [0])
        rowids = array("q")
        for rowid, text in rows:
            rowids.append(rowid)
            term_ids.extend([vocab.setdefault(t, len(vocab)) for t in passage_terms(text)])
            offsets.append(len(term_ids))
        if not rowids:
            return cls(None, np.zeros(0, dtype=np.int64), generation)
        bm25 = bm25s.BM25(**_BM25)
        bm25.index(_Corpus(_TermIds(term_ids, offsets), vocab), show_progress=False)
        # A word in half the passages or more gets IDF 0; FTS5 floors it at 1e-6 instead, so
        # a passage holding any question word still matches (and a small index answers).
        data = bm25.scores["data"]
        data[data <= 0] = MIN_TERM_SCORE
        return cls(bm25, np.frombuffer(rowids, dtype=np.int64).copy(), generation)

    def search(
        self, words: list[str], n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(rowid, BM25 score) of the ``n`` best passages holding any of ``words`` (content
        words: a stopword would count like any other term), among the rowids ``within`` when
        given."""
        if self.bm25 is None or n <= 0:
            return []
        ids = list(dict.fromkeys(self.bm25.get_tokens_ids(terms(words))))
        if not ids:
            return []
        scores = self.bm25.get_scores_from_ids(ids)
        if within is not None:
            scores = np.where(np.isin(self.rowids, within), scores, 0.0)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.rowids[i]), float(scores[i])) for i in top if scores[i] > 0]

    def document_frequency(self, word: str) -> int:
        """How many passages hold ``word`` (any word with its stem)."""
        if self.bm25 is None:
            return 0
        ids = self.bm25.get_tokens_ids(terms([word]))
        if not ids:
            return 0
        indptr = self.bm25.scores["indptr"]  # a column per term: its length is the DF
        return int(indptr[ids[0] + 1] - indptr[ids[0]])

    # ---- on disk -------------------------------------------------------------------------
    def save(
        self, directory: Path, publish: Callable[[dict[str, str]], None] | None = None
    ) -> None:
        """Write ``directory/<generation>/`` atomically, then drop older generations.

        Args:
            directory: the BM25 directory of the index.
            publish: called with the files' checksums before they are renamed into place
                (the store records them), so a reader never finds the files without them.
        """
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / str(self.generation)
        tmp = directory / f".building-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        if self.bm25 is not None:
            self.bm25.save(str(tmp), show_progress=False)
        np.save(tmp / _ROWIDS, self.rowids)
        (tmp / _INFO).write_text(json.dumps({"generation": self.generation}))
        for path in tmp.iterdir():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        if publish is not None:
            publish(directory_checksums(tmp))
        try:
            os.rename(tmp, final)
        except OSError:  # another process saved this generation first: same content
            shutil.rmtree(tmp, ignore_errors=True)
        for old in directory.iterdir():
            if old.name.isdigit() and int(old.name) < self.generation:
                shutil.rmtree(old, ignore_errors=True)
            elif old.name.startswith(".building-") and not _alive(old.name.split("-")[1]):
                shutil.rmtree(old, ignore_errors=True)  # left by a process that was killed

    @classmethod
    def load(
        cls, directory: Path, generation: int, checksums: dict[str, str] | None = None
    ) -> LexicalIndex | None:
        """The saved index of ``generation``, or None if there is none (or it is unreadable).

        With ``checksums`` (file name -> SHA-256, recorded when it was saved), files that do not
        match them make it None too, and the damaged directory is removed (to be rebuilt)."""
        path = directory / str(generation)
        if checksums is not None and path.is_dir() and not intact_or_removed(path, checksums):
            return None
        try:
            info = json.loads((path / _INFO).read_text())
            rowids = np.load(path / _ROWIDS)
            bm25 = None
            if len(rowids):
                # Memory-mapped: pages load as questions touch them.
                bm25 = bm25s.BM25.load(str(path), mmap=True, show_progress=False)
        except (OSError, ValueError, KeyError) as exc:
            if path.exists():
                log.warning("BM25 index %s is unreadable (%s): it will be rebuilt", path, exc)
            return None
        if info.get("generation") != generation or (
            bm25 and bm25.scores["num_docs"] != len(rowids)
        ):
            return None
        return cls(bm25, rowids, generation)
