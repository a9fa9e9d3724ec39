"""The embedded store's vector file: one FAISS index (keyed by passage rowid) derived from the
vectors in SQLite, its type chosen by size, written atomically with a recorded checksum, and
reconciled with SQLite on open (a crash between the two leaves a file that is caught up).

FAISS index type by size (bench/scale.py measures recall@10, latency and memory):

- up to EXACT_MAX_PASSAGES, a flat scan of fp16 codes: exact, ~2 ms at 20k on one core (the
  scan is memory-bound and grows with the corpus: 6-9 ms at 100k on two cores);
- up to HNSW_MAX_PASSAGES, an HNSW graph over fp16 codes: ~1 ms at 100k, recall@10 0.996
  against exact search. HNSW cannot remove a vector, so a deleted passage's vector stays
  in the graph, stale, until stale vectors pass STALE_MAX_SHARE and the graph is rebuilt
  from SQLite; the re-score reads the candidates' vectors from SQLite and so drops stale ones;
- above it, IVF with 8-bit scalar quantisation (4x smaller than fp32, sub-linear search,
  remove_ids works), nprobe = nlist // IVF_PROBE_SHARE.

Every search but an fp32 flat one re-scores its candidates with the exact fp32 vectors from
SQLite, so the scores are exact whatever the index type.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from indexer.stores.base import IndexMismatchError
from indexer.stores.embedded.integrity import FAISS_CHECKSUMS_KEY
from indexer.stores.embedded.records import Records

log = logging.getLogger(__name__)

FAISS_NAME = "vectors.faiss"

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
# A search restricted to some passages (``within``: a date range) on an HNSW graph scores
# up to this many of them exactly instead: a graph walk that may stop at only a few nodes
# finds few of them.
FILTER_EXACT_MAX = 20_000


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


def file_identity(file: Path | int) -> tuple[int, int, int]:
    """(inode, size, mtime) of a path or an open file: a file renamed over it differs."""
    st = os.stat(file)
    return st.st_ino, st.st_size, st.st_mtime_ns


def tune(index: faiss.Index) -> None:
    """Search settings are not all kept in the file: set them."""
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = ivf_nprobe(index.nlist)
    elif is_hnsw(index):
        faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH


class VectorFile:
    """The FAISS index of the passages in ``records`` and its file ``path``.

    Not locked itself: callers hold the store's lock (``lock``, shared with the records)
    around everything but :meth:`refit`, which builds outside it.
    """

    def __init__(
        self,
        path: Path,
        records: Records,
        lock: threading.RLock,
        *,
        exact_max: int = EXACT_MAX_PASSAGES,
        hnsw_max: int = HNSW_MAX_PASSAGES,
    ) -> None:
        self.path = path
        self.records = records
        self.dim = records.dim
        self.exact_max = exact_max
        self.hnsw_max = hnsw_max
        self._lock = lock
        self.index: faiss.Index  # set from load() by the store, under its writer lock
        self.stale = 0  # vectors in FAISS whose passage SQLite no longer holds (HNSW only)
        self._replaced = False  # the file was missing or failed: rebuilt in memory
        self.unverified: tuple[int, int, int] | None = None  # see load()

    # ---- building ------------------------------------------------------------------------
    def new(self, rowids: np.ndarray, db: sqlite3.Connection | None = None) -> faiss.Index:
        """An empty index of the type that suits these passages (trained on their vectors if
        needed)."""
        if len(rowids) <= self.hnsw_max:
            return new_faiss_index(self.dim, len(rowids), self.exact_max, hnsw_max=self.hnsw_max)
        size = min(len(rowids), ivf_lists(len(rowids)) * IVF_TRAIN_PER_LIST)
        sample = np.random.default_rng(0).choice(rowids, size, replace=False).tolist()
        train = np.vstack(
            [self.records.vectors(sample[lo : lo + 10_000], db)[1] for lo in range(0, size, 10_000)]
        )
        return new_faiss_index(self.dim, len(rowids), self.exact_max, train, self.hnsw_max)

    def built(self, db: sqlite3.Connection | None = None) -> faiss.Index:
        """A new index of the fitting type holding every vector in SQLite."""
        rowids = self.records.rowids(db)
        index = self.new(rowids, db)
        self._add_from_db(rowids.tolist(), index, db)
        return index

    def _add_from_db(
        self,
        rowids: Sequence[int],
        index: faiss.Index | None = None,
        db: sqlite3.Connection | None = None,
    ) -> None:
        index = self.index if index is None else index
        for lo in range(0, len(rowids), 10_000):
            index.add_with_ids(*self.records.vectors(rowids[lo : lo + 10_000], db)[::-1])

    # ---- the file and its checksum -------------------------------------------------------
    def checksums(self, db: sqlite3.Connection | None = None) -> list[str]:
        """Checksums a true file may have: the current one, and while a writer is between
        writing its file and renaming it into place, the new one too."""
        return json.loads(self.records.meta_value(FAISS_CHECKSUMS_KEY, db) or "[]")

    def record_checksums(self, checksums: list[str]) -> None:
        self.records.set_meta(FAISS_CHECKSUMS_KEY, json.dumps(checksums))

    def load(self, *, verify: bool = True) -> faiss.Index:
        """The index from its file, checked against its recorded checksum; an empty one
        (filled from SQLite by the reconciliation that follows) when the file is missing,
        unreadable or damaged. Call with the writer lock held (a file without a recorded
        checksum, written by an older version, then gets one).

        ``verify=False`` reads the file as it is and leaves the check to
        :meth:`verify_opened` (or to :meth:`reconcile`, before it changes it)."""
        if not verify and self.path.exists():
            try:
                identity = file_identity(self.path)
                index = faiss.read_index(str(self.path))
            except RuntimeError:
                pass  # unreadable: checked and rebuilt right away, below
            else:
                if index.d == self.dim:
                    self.unverified = identity
                    tune(index)
                    return index
        self.unverified = None
        index, problem = self.read(locked=True)
        if index is None:
            self._replaced = True  # saved by the reconciliation, even if it adds nothing
            if problem:
                log.warning(
                    "the FAISS file %s %s: rebuilding it from the vectors in SQLite",
                    self.path,
                    problem,
                )
            # Filled from SQLite by the reconciliation that follows.
            return self.new(self.records.rowids())
        return index

    def read(self, *, locked: bool) -> tuple[faiss.Index | None, str | None]:
        """(the index, None), or (None, what is wrong with the file; None if it is missing)."""
        if not self.path.exists():
            return None, None
        digest = hashlib.sha256()
        with open(self.path, "rb") as f:

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
        accepted = self.checksums()
        if accepted and checksum not in accepted:
            return None, "does not match its recorded checksum (damaged)"
        if index.d != self.dim:
            reason = f"the vector file holds {index.d}-dim vectors, the model gives {self.dim}"
            raise IndexMismatchError(f"{self.path}: {reason}", reason)
        if not accepted and locked:
            self.record_checksums([checksum])
        tune(index)
        return index, None

    def opened_file_status(self) -> tuple[bool, str | None]:
        """For a file loaded unchecked: (whether it must be read again and checked under the
        writer lock: replaced by a writer, or damaged; its checksum when none is recorded)."""
        identity = self.unverified
        assert identity is not None
        accepted = self.checksums(self.records.text_db())
        with open(self.path, "rb") as f:
            same_file = file_identity(f.fileno()) == identity
            checksum = hashlib.file_digest(f, "sha256").hexdigest()
        if not same_file or (accepted and checksum not in accepted):
            return True, None
        return False, None if accepted else checksum

    def save(self) -> None:
        """Write the file (temp file, fsync, rename) with its checksum recorded in SQLite:
        first as a second accepted value, then, once renamed, as the only one, so a reader
        never finds a true file without its checksum.

        Called after SQLite committed: a failure here (a full disk) loses nothing, as the file
        on disk stays the previous true one and the next open adds the missing vectors from
        SQLite, so it is logged and not raised."""
        tmp = self.path.with_suffix(".faiss.tmp")
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
            self.record_checksums(list(dict.fromkeys([*self.checksums(), checksum])))
            os.replace(tmp, self.path)
            self.record_checksums([checksum])
        except (OSError, sqlite3.OperationalError) as exc:
            tmp.unlink(missing_ok=True)
            log.error(
                "could not write the FAISS file (%s): the write itself is safe in SQLite, and "
                "the file is brought up to date from it on the next open",
                exc,
            )

    # ---- keeping it equal to SQLite ------------------------------------------------------
    def ids(self) -> np.ndarray:
        return faiss_ids(self.index)

    def add(self, rowids: list[int], vectors: list[np.ndarray]) -> None:
        if rowids:
            self.index.add_with_ids(
                np.vstack(vectors).astype(np.float32), np.array(rowids, dtype=np.int64)
            )

    def forget(self, rowids: np.ndarray) -> None:
        """Take these passages' vectors out of FAISS (HNSW cannot: they stay, stale)."""
        if len(rowids) and not is_hnsw(self.index):
            self.index.remove_ids(np.asarray(rowids, dtype=np.int64))

    def count_stale(self) -> None:
        self.stale = max(0, self.index.ntotal - self.records.passage_count())

    def reconcile(self) -> None:
        """Make FAISS hold exactly the passages in SQLite (after a crash between the two);
        an HNSW graph keeps the vectors of deleted passages, stale."""
        db_ids = self.records.rowids()
        faiss_ids = self.ids()
        self.stale = 0
        if self.unverified is not None and not np.array_equal(np.sort(faiss_ids), np.sort(db_ids)):
            # About to change and save it: check it first, so damage is never saved over.
            self.index = self.load()
            faiss_ids = self.ids()
        replaced, self._replaced = self._replaced, False
        if np.array_equal(np.sort(faiss_ids), np.sort(db_ids)):
            if replaced:
                self.save()
            return  # the usual case
        if len(faiss_ids) != len(np.unique(faiss_ids)):
            self.index = self.new(db_ids)
            missing = db_ids
        else:
            extra = np.setdiff1d(faiss_ids, db_ids, assume_unique=True)
            missing = np.setdiff1d(db_ids, faiss_ids, assume_unique=True)
            if not len(missing) and (not len(extra) or is_hnsw(self.index)):
                self.stale = len(extra)
                return  # nothing to change: only stale vectors in an HNSW graph
            self.forget(extra)
        if len(missing):
            self._add_from_db(missing.tolist())
        self.count_stale()
        self.save()

    def reconcile_readonly(self) -> None:
        """Catch up with SQLite in memory, after another process wrote (nothing is saved)."""
        db_count = self.records.passage_count()
        if db_count != self.index.ntotal or is_hnsw(self.index):
            # The writer may be between its commit and its rename: take vectors from SQLite.
            # (An HNSW graph's count includes its stale vectors, so it is always compared.)
            faiss_ids = np.unique(self.ids())
            db_ids = self.records.rowids()
            self.forget(np.setdiff1d(faiss_ids, db_ids, assume_unique=True))
            missing = np.setdiff1d(db_ids, faiss_ids, assume_unique=True)
            if len(missing):
                self._add_from_db(missing.tolist())
        self.count_stale()

    def reload_readonly(self) -> bool:
        """Read the file another process wrote and catch up with SQLite; False when the file
        failed its checksum (the caller checks it again under the writer lock)."""
        index, problem = self.read(locked=False)
        if index is None and problem is not None:
            return False
        self.index = index if index is not None else self.new(self.records.rowids())
        self.reconcile_readonly()
        return True

    # ---- rebuilding ----------------------------------------------------------------------
    def rebuild(self) -> None:
        """Rebuild the index from SQLite's vectors and write it (the writer lock held)."""
        with self._lock:
            self.index = self.built()
            self.stale = 0
            self.save()
        log.info("FAISS index rebuilt from SQLite: %s", describe_faiss(self.index))

    def refit_due(self) -> bool:
        """Whether the index should be rebuilt from SQLite: it outgrew its type (flat past
        ``exact_max``, HNSW past ``hnsw_max``, IVF grown fourfold: twice the ideal list
        count), or more than ``STALE_MAX_SHARE`` of an HNSW graph is stale."""
        with self._lock:
            live = self.index.ntotal - self.stale
            if isinstance(self.index, faiss.IndexIVF):
                return ivf_lists(live) >= 2 * faiss.extract_index_ivf(self.index).nlist
            if is_hnsw(self.index):
                return live > self.hnsw_max or self.stale > STALE_MAX_SHARE * self.index.ntotal
            return live > self.exact_max

    def refit(self) -> bool:
        """Rebuild the index with the type that fits its size when :meth:`refit_due` says so;
        returns whether it did (the writer lock held).

        The new index is built outside the store's lock (HNSW at 100k passages: about a
        minute), so questions go on being answered from the current one meanwhile.
        """
        if not self.refit_due():
            return False
        db = self.records.connect()
        try:
            index = self.built(db)
        finally:
            db.close()
        with self._lock:
            self.index = index
            self.stale = 0
            self.save()
        log.info("FAISS index rebuilt from SQLite: %s", describe_faiss(index))
        return True

    # ---- search --------------------------------------------------------------------------
    def counts(self) -> tuple[int, int]:
        """(vectors held for current passages, stale vectors of deleted ones)."""
        with self._lock:
            return self.index.ntotal - self.stale, self.stale

    def describe(self) -> str:
        with self._lock:
            return describe_faiss(self.index)

    def search(
        self, query: np.ndarray, n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``n`` passages by inner product with the (normalised) query vector; only
        passages whose rowid is in ``within``, when given."""
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
                stale_share = min(self.stale / self.index.ntotal, 0.5)
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
                found, vectors = self.records.vectors([int(i) for i in ids[0] if i >= 0])
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
            ids, vectors = self.records.vectors(rowids[lo : lo + 10_000])
            found.append(ids)
            scores.append(vectors @ query)
        all_ids, all_scores = np.concatenate(found), np.concatenate(scores)
        best = np.argsort(-all_scores, kind="stable")[:n]
        return [(int(all_ids[i]), float(all_scores[i])) for i in best]
